// Android (Kotlin) call sequence for a HAT `model.tflite` exported by `hat-keras export --format tflite`,
// on LiteRT 2.x's CompiledModel API (com.google.ai.edge.litert:litert:2.3.0; the Interpreter is its CPU-only
// legacy path). Accelerator.NPU runs the integer-only variants (--quantize w8a8|w8a16|mixed) where the phone's
// NPU delegate accepts them; CPU (XNNPACK) runs every variant. The WordPiece step is left to the caller: it
// must return the same ids as hat_keras.runtime.TFLiteTextClassifier.encode().
package org.example.hat

import android.content.Context
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import org.json.JSONObject
import java.io.File
import java.util.zip.ZipFile
import kotlin.math.exp

class HatClassifier(
    context: Context,
    assetName: String = "model.tflite",
    accelerator: Accelerator = Accelerator.CPU,
) {
    private val model: CompiledModel
    val labels: List<String>
    val vocab: List<String>
    private val maxSentences: Int
    private val segmentLength: Int
    private val clsId: Int
    private val padId: Int

    init {
        // 1. the model, compiled once for the chosen accelerator
        model = CompiledModel.create(context.assets, assetName, CompiledModel.Options(accelerator))
        // 2. the bundled files: the .tflite is also a zip archive
        val copy = File(context.cacheDir, assetName)
        if (!copy.exists()) context.assets.open(assetName).use { i -> copy.outputStream().use { i.copyTo(it) } }
        ZipFile(copy).use { zip ->
            fun read(name: String) = zip.getInputStream(zip.getEntry(name)).bufferedReader().readText()
            vocab = read("vocab.txt").lines().dropLastWhile { it.isEmpty() }
            labels = read("labels.txt").lines().filter { it.isNotEmpty() }
            val geo = JSONObject(read("hat_export.json"))
            maxSentences = geo.getInt("max_segments")
            segmentLength = geo.getInt("segment_length")
            padId = geo.getInt("pad_token_id")
        }
        clsId = vocab.indexOf("[CLS]")
    }

    /** 3. uniform segmentation of word-piece ids (no specials) into max_segments x K. */
    fun segment(wordPieceIds: IntArray): Pair<IntArray, IntArray> {
        val n = maxSentences * segmentLength
        val ids = IntArray(n) { padId }
        val mask = IntArray(n)
        val step = segmentLength - 1
        val kept = wordPieceIds.take(n - maxSentences)
        for (s in 0 until maxSentences) {
            val chunk = kept.drop(s * step).take(step)
            if (chunk.isEmpty()) break
            val base = s * segmentLength
            ids[base] = if (chunk.all { it == padId }) padId else clsId
            mask[base] = 1
            chunk.forEachIndexed { j, id -> ids[base + 1 + j] = id; mask[base + 1 + j] = 1 }
        }
        return ids to mask
    }

    private val inputs = model.createInputBuffers()   // serving_default order: token_ids, padding_mask
    private val outputs = model.createOutputBuffers() // logits, float32 for every variant (integer ones
                                                      // dequantize their output inside the graph)

    /** 4-5. run the serving_default signature and return (label, probabilities). */
    fun classify(wordPieceIds: IntArray): Pair<String, FloatArray> {
        val (ids, mask) = segment(wordPieceIds)
        inputs[0].writeInt(ids)
        inputs[1].writeInt(mask)
        model.run(inputs, outputs)
        val logits = outputs[0].readFloat()
        val max = logits.maxOrNull() ?: 0f
        val e = logits.map { exp((it - max).toDouble()) }
        val probs = e.map { (it / e.sum()).toFloat() }.toFloatArray()
        return labels[probs.indices.maxByOrNull { probs[it] }!!] to probs
    }
}
