// Android (Kotlin) call sequence for a HAT `model.tflite` exported by `hat-keras export --format tflite`.
// Dependencies: com.google.ai.edge.litert:litert (or org.tensorflow:tensorflow-lite) and
// org.tensorflow:tensorflow-lite-support for FileUtil. The WordPiece step is left to `tokenizer`:
// it must return the same ids as hat_keras.exporting.tflite.TFLiteTextClassifier.encode().
package org.example.hat

import android.content.Context
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.support.common.FileUtil
import java.io.File
import java.util.zip.ZipFile
import kotlin.math.exp

class HatClassifier(context: Context, assetName: String = "model.tflite") {
    private val interpreter: Interpreter
    val labels: List<String>
    val vocab: List<String>
    private val maxSentences: Int
    private val segmentLength: Int
    private val clsId: Int
    private val padId: Int

    init {
        // 1. the model, memory-mapped, 2 threads
        interpreter = Interpreter(FileUtil.loadMappedFile(context, assetName), Interpreter.Options().setNumThreads(2))
        // 2. the bundled files: the .tflite is also a zip archive
        val copy = File(context.cacheDir, assetName)
        if (!copy.exists()) context.assets.open(assetName).use { i -> copy.outputStream().use { i.copyTo(it) } }
        ZipFile(copy).use { zip ->
            fun read(name: String) = zip.getInputStream(zip.getEntry(name)).bufferedReader().readText()
            vocab = read("vocab.txt").lines().dropLastWhile { it.isEmpty() }
            labels = read("labels.txt").lines().filter { it.isNotEmpty() }
            val geo = JSONObject(read("hat_export.json"))
            maxSentences = geo.getInt("max_sentences")
            segmentLength = geo.getInt("max_sentence_length")
            padId = geo.getInt("pad_token_id")
        }
        clsId = vocab.indexOf("[CLS]")
    }

    /** 3. uniform segmentation of word-piece ids (no specials) into max_sentences x K. */
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

    /** 4-5. run the serving_default signature and return (label, probabilities). */
    fun classify(wordPieceIds: IntArray): Pair<String, FloatArray> {
        val (ids, mask) = segment(wordPieceIds)
        val n = ids.size
        val logits = Array(1) { FloatArray(labels.size) }
        interpreter.runSignature(
            mapOf("token_ids" to arrayOf(ids).also { check(it[0].size == n) }, "padding_mask" to arrayOf(mask)),
            mapOf("logits" to logits), "serving_default")
        val max = logits[0].maxOrNull() ?: 0f
        val e = logits[0].map { exp((it - max).toDouble()) }
        val probs = e.map { (it / e.sum()).toFloat() }.toFloatArray()
        return labels[probs.indices.maxByOrNull { probs[it] }!!] to probs
    }
}
