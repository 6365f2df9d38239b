"""The clients that run exported models on the host: LiteRT for `.tflite`, TensorFlow for SavedModels and
onnxruntime for `.onnx`.

They live apart from the exporters because they are what *uses* an export: `hat-keras predict`, the
verification step of each exporter, the benchmarks and the examples all run models through them, and none
of them needs the converters. Each runtime is imported only when its client is built.
"""
import json
import os
import tempfile

import numpy as np

from hat_keras import logs

KERNELS = ("xnnpack", "builtin")  # YNNPACK: not in the ai-edge-litert 2.3.0 wheel (compile fails)


class LiteRTRunner:
    """One signature of a `.tflite` on LiteRT: numpy in, {output name: numpy} out.

    api="compiled": `CompiledModel` on the CPU accelerator with its tensor buffers allocated once;
    api="interpreter": the legacy `Interpreter` (kept for side-by-side benchmarks). `kernels`: "xnnpack" (the
    default delegate) or "builtin" (TFLite's own kernels, no delegate);
    `benchmarks/bench_litert.py` times each on the CPU at hand.
    """

    def __init__(self, path, threads=2, api="compiled", signature="serving_default", kernels="xnnpack"):
        if kernels not in KERNELS:
            raise ValueError(f"kernels={kernels!r}; choose one of {', '.join(KERNELS)}")
        self.api, self.signature, self.kernels = api, signature, kernels
        self._first_run = True
        if api == "interpreter":
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
            resolver = (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if kernels == "builtin"
                        else OpResolverType.AUTO)
            with logs.native_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
                self._runner = Interpreter(model_path=os.fspath(path), num_threads=threads,
                                           experimental_op_resolver_type=resolver).get_signature_runner(signature)
            self.output_names = list(self._runner.get_output_details())
            self.input_shapes = {k: list(d["shape"]) for k, d in self._runner.get_input_details().items()}
            return
        if api != "compiled":
            raise ValueError(f"api={api!r}; choose compiled or interpreter")
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.options import CpuOptions, Options
        from ai_edge_litert.cpu_options import CpuKernelMode
        cpu = CpuOptions(num_threads=threads, kernel_mode=CpuKernelMode.BUILTIN if kernels == "builtin" else None)
        logs.mute_native_stderr_at_exit()  # the accelerators' DestroyAccelerator lines at process exit
        with logs.native_stderr():  # LiteRT's C++ INFO lines (environment, accelerator registration)
            self._model = CompiledModel.from_file(os.fspath(path), options=Options(cpu_options=cpu))
        self._bind(signature)

    def sibling(self, signature):
        """A runner of another signature of the same compiled model (weights loaded once)."""
        other = object.__new__(type(self))
        other.api, other.kernels, other._first_run, other._model = self.api, self.kernels, True, self._model
        other._bind(signature)
        return other

    def _bind(self, signature):
        self.signature = signature
        self._index = self._model.get_signature_index(signature)
        names = self._model.get_signature_list()[signature]
        self.input_names, self.output_names = list(names["inputs"]), list(names["outputs"])
        self.input_shapes = {k: list(d["shape"]) for k, d in
                             self._model.get_input_tensor_details(signature).items()}
        details = self._model.get_output_tensor_details(signature)
        self._outputs = [(details[n]["shape"], np.dtype(details[n]["dtype"])) for n in self.output_names]
        self._in = self._model.create_input_buffers(self._index)
        self._out = self._model.create_output_buffers(self._index)

    def __del__(self):
        """Release the compiled model with fd 2 captured (the accelerators' own DestroyAccelerator lines come
        at process exit: `logs.mute_native_stderr_at_exit`)."""
        if getattr(self, "_model", None) is not None:
            try:
                with logs.native_stderr():
                    self._in = self._out = self._model = None
            except Exception:  # interpreter shutdown: os may already be gone
                pass

    def __call__(self, **inputs):
        if getattr(self, "_first_run", False):  # LiteRT creates its environment and accelerators lazily, here
            self._first_run = False
            with logs.native_stderr():
                return self(**inputs)
        if self.api == "interpreter":
            return {k: np.asarray(v) for k, v in self._runner(**inputs).items()}
        for name, buf in zip(self.input_names, self._in):
            buf.write(np.ascontiguousarray(inputs[name]))
        self._model.run_by_index(self._index, self._in, self._out)
        return {name: buf.read(int(np.prod(shape)), dtype).reshape(shape)
                for name, buf, (shape, dtype) in zip(self.output_names, self._out, self._outputs)}


class BucketedLiteRT:
    """A `.tflite` called like `LiteRTRunner`, one document at a time: a compact model's export carries a
    `segments_{n}` signature per bucket below its full length (`serving_default`), and each document runs on
    the smallest one holding its real segments, so a short document costs a short document's time (the
    signatures share their weights). Other exports run `serving_default` as they are."""

    def __init__(self, path, threads=2, api="compiled"):
        self.full = LiteRTRunner(path, threads, api)
        self.output_names = self.full.output_names
        names = self.full._model.get_signature_list() if api == "compiled" else {}
        self.buckets = sorted(int(n.split("_")[1]) for n in names if n.startswith("segments_"))
        self._runners = {}
        if self.buckets:  # the 1-segment bucket's input is one segment long
            one = self._runners["segments_1"] = self.full.sibling("segments_1")
            self.segment_length = one.input_shapes["token_ids"][-1]

    def signature_for(self, padding_mask):
        """(signature, width) the document runs on."""
        from hat_keras.inference import real_segments

        if not self.buckets:
            return "serving_default", None
        n = real_segments(padding_mask, self.segment_length)
        bucket = next((b for b in self.buckets if b >= n), None)
        return (f"segments_{bucket}", bucket * self.segment_length) if bucket else ("serving_default", None)

    def __call__(self, **inputs):
        name, width = self.signature_for(inputs["padding_mask"])
        if width is None:
            return self.full(**inputs)
        if name not in self._runners:
            self._runners[name] = self.full.sibling(name)
        return self._runners[name](**{k: np.ascontiguousarray(v[..., :width]) for k, v in inputs.items()})


class TFLiteTextClassifier:
    """Host-side use of an exported `.tflite`: its bundled vocabulary -> the same ids as `classify_text`.

    The tokenizer runs here, in Python, so `segmentation` may differ from the export's (its default)."""

    def __init__(self, path, threads=2, segmentation=None):
        from hat_keras.exporting import metadata
        from hat_keras.tokenization import HATTokenizer
        from hat_keras.tokenization.segmentation import check_segmentation
        self.info, files = metadata.read_metadata(path)
        self.labels = self.info["labels"]
        self.segmentation = check_segmentation(segmentation or self.info["tokenizer"]["segmentation"])
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
            self.tokenizer = HATTokenizer.from_pretrained(tmp, max_segments=self.info["max_segments"],
                                                          segment_length=self.info["segment_length"])
        self.runner = BucketedLiteRT(path, threads)

    def encode(self, texts):
        out = self.tokenizer([str(t) for t in texts], segmentation=self.segmentation)
        return {k: np.asarray(v, np.int32) for k, v in out.items()}

    def __call__(self, texts):
        """Probabilities (B, C), one document at a time as on a phone; (0, C) for no documents."""
        if not len(texts):
            return np.zeros((0, len(self.labels)), np.float32)
        return self.probabilities(self.encode(texts))

    def probabilities(self, encoded):
        """Probabilities (B, C) of token ids already segmented (`encode`'s, or windows of a longer text)."""
        logits = np.concatenate([self.runner(token_ids=np.asarray(encoded["token_ids"][i:i + 1], np.int32),
                                             padding_mask=np.asarray(encoded["padding_mask"][i:i + 1], np.int32)
                                             )["logits"] for i in range(len(encoded["token_ids"]))])
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


class SavedModelTextClassifier:
    """A SavedModel's `classify_text` signature (in-graph tokenization): texts -> probabilities (B, C).

    `labels` are the class names the signature returns; `segmentation` is the one its graph tokenizes with
    (from the assets' hat_export.json; None for exports that did not record it). Raises ValueError for a
    SavedModel exported without a tokenizer (no `classify_text`; its `serving_default` takes token ids)."""

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving links them)

        loaded = tf.saved_model.load(path)
        if "classify_text" not in loaded.signatures:
            raise ValueError(f"{path}: this SavedModel has no classify_text signature (exported without a "
                             "tokenizer); send token ids to serving_default instead")
        self._loaded, self._fn, self._tf = loaded, loaded.signatures["classify_text"], tf
        names = self._fn(text=tf.constant([""]))["label_names"].numpy()[0]
        self.labels = [n.decode() for n in names]
        assets = os.path.join(path, "assets", "hat_export.json")
        info = {}
        if os.path.isfile(assets):
            with open(assets, encoding="utf-8") as f:
                info = json.load(f)
        self.segmentation = (info.get("tokenizer") or {}).get("segmentation")
        self.info, self._assets, self._host = info, os.path.dirname(assets), None

    def __call__(self, texts):
        return self._fn(text=self._tf.constant(list(texts), self._tf.string))["probabilities"].numpy()

    def encode(self, texts):
        """The ids the graph classifies (its `tokenize` signature): what `classify_text` reads of each text."""
        out = self._loaded.signatures["tokenize"](text=self._tf.constant(list(texts), self._tf.string))
        return {k: out[k].numpy() for k in ("token_ids", "padding_mask")}

    def probabilities(self, encoded):
        """Probabilities (B, C) of token ids (`serving_default`), e.g. windows of a text longer than the model."""
        tf = self._tf
        out = self._loaded.signatures["serving_default"](
            token_ids=tf.constant(np.asarray(encoded["token_ids"], np.int32)),
            padding_mask=tf.constant(np.asarray(encoded["padding_mask"], np.int32)))
        return out["probabilities"].numpy()

    def host_tokenizer(self):
        """The HATTokenizer rebuilt from the assets (the same ids as `tokenize`, in Python, for any
        max_segments); None when the export did not record its segmentation."""
        if self._host is None and self.segmentation:
            from hat_keras.tokenization import HATTokenizer
            self._host = HATTokenizer.from_pretrained(self._assets, max_segments=self.info["max_segments"],
                                                      segment_length=self.info["segment_length"],
                                                      segmentation=self.segmentation)
        return self._host


def onnx_session(path, threads=2):
    """An onnxruntime session on the CPU: `threads` intra-op threads, one inter-op."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
