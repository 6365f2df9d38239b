"""Integer-only LiteRT models for NPUs, and what precision each op of a `.tflite` computes in.

Phone NPUs (Qualcomm HTP, MediaTek APU, Google Tensor, Samsung) and Edge-TPU-class accelerators run integer
models only. The variants are built with Google's `ai-edge-quantizer`, which quantizes a float `.tflite` by
recipe (per op type and per tensor-name scope), supports int16 activations beside int8 weights and measures
per-tensor error against the float model; TFLiteConverter's int8 path offers none of the three.

  w8a8   int8 weights, int8 activations (every supported op);
  w8a16  int8 weights, int16 activations (what NPU delegates accept where int8 activations lose accuracy);
  mixed  int8 FULLY_CONNECTED and BATCH_MATMUL, every other op in float32 (what NPU delegates that run
         integer matmuls and float elementwise ops take), with the matmul kinds that move the logits most on
         the calibration documents (in practice the attention products) raised to int16 activations.

The float model they start from adds a bounded value for masked keys (`MASK_VALUE`), not float32 min, so the
attention logits get a usable scale; the float exports keep float32 min.
"""
import collections
import re

import numpy as np


from hat_keras import logs
from hat_keras.exporting.source import ExportError

VARIANTS = ("w8a8", "w8a16", "mixed")
MASK_VALUE = -30.0  # exp(-30) ~ 1e-13: masked keys still get no weight; the logit range stays integer-sized
SIGNATURE = "serving_default"
# The mixed search raises a matmul group to int16 (slower on CPUs) while a calibration document is not safe
# (some logit off by 1/MIXED_SAFETY of its float margin or more: at 2 its prediction could flip; 4 leaves
# room for documents closer to the boundary than any calibration one), or when a group brings the logits at
# least MIXED_MIN_GAIN closer to the float model's.
MIXED_SAFETY = 4
MIXED_MIN_GAIN = 0.1
# Ops every integer-only accelerator must run in integers (the model's matrix products).
MATMUL_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL")


def _schema():
    from ai_edge_litert import schema_py_generated as schema
    return schema


def _operators(model):
    """(op type name, operator) for each op of the main subgraph of a read-only flatbuffer `Model`."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    subgraph = model.Subgraphs(0)
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        yield names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"), op


def recipe(activation_bits, matmuls_only=False, wide=()):
    """ai-edge-quantizer recipe: static int8 weights, `activation_bits` activations, for every supported op
    or (`matmuls_only`) for FULLY_CONNECTED and BATCH_MATMUL only, every other op staying float32. `wide`:
    (op type, tensor-name regex) pairs whose matmuls take int16 activations instead (`matmul_kinds`)."""
    from ai_edge_quantizer import qtyping, recipe_manager
    op_name, tensorwise = qtyping.TFLOperationName, qtyping.QuantGranularity.TENSORWISE
    manager = recipe_manager.RecipeManager()
    if matmuls_only:
        manager.add_static_config(".*", op_name.FULLY_CONNECTED, activation_bits, 8)
    else:
        manager.add_static_config(".*", op_name.ALL_SUPPORTED, activation_bits, 8)
    # LiteRT's integer BATCH_MATMUL reads one scale for a constant operand (the last layer's CLS-only
    # attention multiplies by a weight): per-channel scales there give zeros. Per-tensor for that op.
    manager.add_static_config(".*", op_name.BATCH_MATMUL, activation_bits, 8, weight_granularity=tensorwise)
    for op, regex in wide:  # the latest matching entry wins (RecipeManager.get_quantization_configs)
        manager.add_static_config(regex, op_name(op), 16, 8,
                                  weight_granularity=tensorwise if op == "BATCH_MATMUL" else
                                  qtyping.QuantGranularity.CHANNELWISE)
    return manager.get_quantization_recipe()


def layer_kind(tensor_name):
    """The Keras layer kind a tensor belongs to: `.../segment_encoder_1/ffn_layer_norm_1/moments/variance`
    -> `ffn_layer_norm` (the innermost name scope with a Keras `_N` suffix, the suffix dropped)."""
    parts = tensor_name.split("/")[:-1]
    for part in reversed(parts):
        m = re.fullmatch(r"(.+?)(_\d+)+", part)
        if m:
            return m.group(1)
    return parts[-1] if parts else tensor_name


def padding_document(samples, pad_id, segment_length):
    """The first calibration document cut to half a segment (the rest padding): it calibrates the attention
    bias (0 or `MASK_VALUE`) and padding positions, which the documents cover only if some are short."""
    from hat_keras.exporting.verify import Samples
    keep = max(1, segment_length // 2)
    ids, mask = samples.token_ids[:1].copy(), samples.padding_mask[:1].copy()
    ids[:, keep:], mask[:, keep:] = pad_id, 0
    return Samples(ids, mask, kind="padding")


def calibration_data(samples):
    """Samples -> the quantizer's {signature: [one-document input dict, ...]}, in file order."""
    return {SIGNATURE: [samples.inputs(i) for i in range(len(samples))]}


def float_outputs(data):
    """`data` with every integer graph output dequantized in the graph: the signature keeps returning float32
    logits on every runtime (an NPU delegate leaves the final DEQUANTIZE to the CPU)."""
    from hat_keras.exporting.metadata import model_bytes, model_object
    schema = _schema()
    model = model_object(data)
    subgraph = model.subgraphs[0]
    integer = (schema.TensorType.INT8, schema.TensorType.INT16, schema.TensorType.UINT8)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    changed = False
    for pos, tid in enumerate(subgraph.outputs):
        tensor = subgraph.tensors[tid]
        if tensor.type not in integer:
            continue
        if schema.BuiltinOperator.DEQUANTIZE not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
            code.version = 1
            model.operatorCodes.append(code)
            codes.append(schema.BuiltinOperator.DEQUANTIZE)
        out = schema.TensorT()
        out.shape, out.shapeSignature, out.type = tensor.shape, tensor.shapeSignature, schema.TensorType.FLOAT32
        out.name = tensor.name
        tensor.name = (tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name) + "/quantized"
        empty = schema.BufferT()
        model.buffers.append(empty)
        out.buffer = len(model.buffers) - 1
        subgraph.tensors.append(out)
        new = len(subgraph.tensors) - 1
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes.index(schema.BuiltinOperator.DEQUANTIZE), [tid], [new]
        subgraph.operators.append(op)
        subgraph.outputs[pos] = new
        for signature in model.signatureDefs or []:
            for entry in signature.outputs:
                if entry.tensorIndex == tid:
                    entry.tensorIndex = new
        changed = True
    if not changed:
        return bytes(data)
    return model_bytes(model)


def op_precision(data):
    """Per op type, how many ops compute in each type (that of their first non-constant input), and whether
    the model is integer-only: every FULLY_CONNECTED and BATCH_MATMUL takes int8/int16 activations."""
    schema = _schema()
    if not isinstance(data, (bytes, bytearray)):
        with open(data, "rb") as f:
            data = f.read()
    model = schema.Model.GetRootAs(data, 0)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    counts = collections.defaultdict(collections.Counter)
    float_matmuls = 0
    subgraph = model.Subgraphs(0)
    for name, op in _operators(model):
        inputs = [subgraph.Tensors(j) for j in op.InputsAsNumpy() if j >= 0]
        activations = [t for t in inputs if not _is_constant(model, t)] or inputs
        dtype = type_names[activations[0].Type()] if activations else "none"
        counts[name][dtype] += 1
        if name in MATMUL_OPS and any(t.Type() not in (schema.TensorType.INT8, schema.TensorType.INT16)
                                      for t in activations):
            float_matmuls += 1
    summary = collections.Counter()
    for per_type in counts.values():
        summary.update(per_type)
    return {"integer_only": float_matmuls == 0, "float_matmuls": float_matmuls,
            "ops": {name: dict(sorted(c.items())) for name, c in sorted(counts.items())},
            "summary": dict(sorted(summary.items()))}


def _is_constant(model, tensor):
    """A tensor with data: in the flatbuffer, or (ai-edge-quantizer's large-model layout) at an offset after it."""
    buffer = model.Buffers(tensor.Buffer())
    return bool(buffer.DataLength() or buffer.Offset())


def precision_line(precision):
    """One line for logs and tables, e.g. `integer-only; int8 410, int16 0, float32 21`."""
    s = precision["summary"]
    head = "integer-only" if precision["integer_only"] else f"{precision['float_matmuls']} float matmuls"
    return f"{head}; " + ", ".join(f"{k} {s.get(k, 0)}" for k in ("int8", "int16", "float32"))


class IntegerQuantizer:
    """Calibrate a float `.tflite` once on the user's documents, then build any variant from that calibration.

    The calibration statistics (per-tensor min/max of the float model) do not depend on the recipe, so the
    mixed search re-quantizes without re-running the documents.
    """

    def __init__(self, float_model, calibration, padding=None, log=print, threads=2):
        from ai_edge_quantizer import quantizer
        if calibration is None or not len(calibration):
            raise ExportError("integer-only variants need calibration documents (--calibration FILE.jsonl)")
        self.float_model, self.calibration, self.log, self.threads = bytes(float_model), calibration, log, threads
        self.kinds = matmul_kinds(self.float_model)
        self._quantizer = quantizer.Quantizer(bytearray(self.float_model), recipe(16))
        log(f"[export] calibrating on {len(calibration)} documents ...")
        documents = [calibration.inputs(i) for i in range(len(calibration))]
        if padding is not None:
            documents += [padding.inputs(i) for i in range(len(padding))]
        self.statistics = {}
        with _quiet():
            for doc in documents:
                self._merge(self._quantizer.calibrate({SIGNATURE: [doc]}, num_threads=threads))

    def _merge(self, qsvs):
        """Min/max over every document. The quantizer's own calibration keeps a moving average of min/max
        (smoothing 0.95), which clips what the documents' extremes reach: 1/sqrt(variance) of padding
        positions in LayerNorm, the masked attention bias of short documents."""
        for name, qsv in qsvs.items():
            old = self.statistics.get(name)
            if not old or not qsv:
                self.statistics[name] = qsv or old
                continue
            self.statistics[name] = {**old, "min": np.minimum(old["min"], qsv["min"]),
                                     "max": np.maximum(old["max"], qsv["max"])}

    def quantize(self, activation_bits=8, matmuls_only=False, wide=()):
        """`wide`: names from `self.kinds` (e.g. "FULLY_CONNECTED:ffn_output") at int16 activations."""
        self._quantizer.load_quantization_recipe(
            recipe(activation_bits, matmuls_only, [self.kinds[name] for name in wide]))
        with _quiet():
            result = self._quantizer.quantize(self.statistics, enable_progress_bar=False,
                                              enable_progress_report=False)
        return float_outputs(bytes(result.quantized_model))

    def layer_errors(self, quantized, samples, top=None):
        """Per Keras layer kind, the worst relative error (noise power / signal power, 1/SNR from
        `Quantizer.validate`) of any float tensor it computes, on `samples`; worst first."""
        from ai_edge_quantizer import quantizer
        from ai_edge_quantizer.utils import validation_utils
        q = quantizer.Quantizer(bytearray(self.float_model), previous_quantized_model=bytearray(quantized))
        with _quiet():
            result = q.validate(calibration_data(samples), num_threads=self.threads,
                                error_metrics=[validation_utils.ValidationErrorMetric.SNR])
        producers = _tensor_producers(self.float_model)
        worst = {}
        for tensor, metrics in result.get_signature_comparison_result(SIGNATURE).intermediate_tensors.items():
            if tensor not in producers or not metrics["snr"]:  # not float, or all zero here (no signal)
                continue
            kind, error = layer_kind(tensor), 1.0 / float(metrics["snr"])
            if error > worst.get(kind, {"relative_error": -1.0})["relative_error"]:
                worst[kind] = {"layer": kind, "op": producers[tensor], "relative_error": round(error, 6),
                               "tensor": tensor}
        return sorted(worst.values(), key=lambda e: -e["relative_error"])[:top]

    def variant(self, name, check):
        """(tflite bytes, report extras) of variant `name`. `check(data) -> (safe agreement, mean abs logit
        diff)` against the float model on the calibration documents drives the mixed search; safe agreement
        is the share of documents whose logits are off by less than 1/MIXED_SAFETY of their float margin."""
        if name == "w8a8":
            return self.quantize(8), {}
        if name == "w8a16":
            return self.quantize(16), {}
        if name != "mixed":
            raise ExportError(f"quantize={name!r}; choose one of {', '.join(VARIANTS)}")
        return self._mixed(check)

    def _mixed(self, check):
        """int8 matmuls, every other op float32; then matmul kinds (`self.kinds`) at int16 activations, most
        sensitive first (each tried alone, ranked by how close it brings the logits to the float model's).
        A kind is added while some calibration document is not safe (safe agreement below 1; any gain), or
        if it brings the logits at least `MIXED_MIN_GAIN` closer; once every document is safe, kinds whose
        gain alone is below that are not tried. Deterministic (calibration documents,
        in order)."""
        data = self.quantize(8, matmuls_only=True)
        agreement, diff = check(data)
        tried = [{"int16": [], "calibration_safe_agreement": agreement, "mean_abs_logit_diff": diff}]
        self.log(f"[export] mixed: int8 matmuls -> safe agreement {agreement:.3f}, mean |logit diff| {diff:.4f}")
        alone = []
        for name in self.kinds:
            a, d = check(self.quantize(8, matmuls_only=True, wide=[name]))
            tried.append({"int16": [name], "calibration_safe_agreement": a, "mean_abs_logit_diff": d})
            self.log(f"[export] mixed: {name} at int16 -> safe agreement {a:.3f}, mean |logit diff| {d:.4f}")
            alone.append((d, -a, name))
        base, wide = diff, []
        for d_alone, minus_a, name in sorted(alone):
            if agreement == 1.0 and d_alone > base * (1 - MIXED_MIN_GAIN):
                break
            candidate = self.quantize(8, matmuls_only=True, wide=wide + [name])
            if not wide:  # the same model as measured alone (quantizing is deterministic)
                a, d = -minus_a, d_alone
            else:
                a, d = check(candidate)
                tried.append({"int16": wide + [name], "calibration_safe_agreement": a, "mean_abs_logit_diff": d})
                self.log(f"[export] mixed: {', '.join(wide + [name])} at int16 -> safe agreement {a:.3f}, "
                         f"mean |logit diff| {d:.4f}")
            if d <= diff * (1 - MIXED_MIN_GAIN) or (agreement < 1.0 and (a, -d) > (agreement, -diff)):
                wide, data, agreement, diff = wide + [name], candidate, a, d
        return data, {"int16_matmuls": wide, "mixed_search": tried}


def matmul_kinds(data):
    """{"OP:kind": (op type, regex)} for every FULLY_CONNECTED and BATCH_MATMUL of a float model, grouped by
    Keras layer kind (`qkv`, `ffn_output`, the attention products in `segment_encoder`, ...), in graph order.
    The regex names the group's output tensors exactly, so the groups are disjoint and cover every matmul."""
    schema = _schema()
    model = schema.Model.GetRootAs(data, 0)
    subgraph, groups = model.Subgraphs(0), {}
    for name, op in _operators(model):
        if name in MATMUL_OPS:
            tensor = subgraph.Tensors(op.Outputs(0)).Name().decode()
            groups.setdefault((name, layer_kind(tensor)), []).append(tensor)
    return {f"{op}:{kind}": (op, "^(" + "|".join(map(re.escape, names)) + ");?$")  # scopes end in ";"
            for (op, kind), names in groups.items()}


def _tensor_producers(data):
    """{float tensor name: op type that writes it} of the float model (integer and bool tensors, e.g. masks
    and indices, are not quantized)."""
    schema = _schema()
    model = schema.Model.GetRootAs(data, 0)
    subgraph, out = model.Subgraphs(0), {}
    for name, op in _operators(model):
        for j in op.OutputsAsNumpy():
            tensor = subgraph.Tensors(j)
            if tensor.Type() == schema.TensorType.FLOAT32:
                out[tensor.Name().decode()] = name
    return out


class _quiet:
    """The quantizer's tqdm bars, absl logs and debugging warnings, silenced while it runs (hat-keras prints
    its own progress lines)."""

    def __enter__(self):
        import contextlib
        import io
        import logging
        import warnings
        self._stack = contextlib.ExitStack()
        self._loggers = [] if logs.verbose() else [logging.getLogger(n) for n in ("absl", "ai_edge_quantizer")]
        self._levels = [lg.level for lg in self._loggers]
        for lg in self._loggers:
            lg.setLevel(logging.ERROR)
        if logs.verbose():
            return
        self._stack.enter_context(logs.native_stderr())  # the interpreter's C++ lines (XNNPACK delegate)
        self._stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._stack.close()
        for lg, level in zip(self._loggers, self._levels):
            lg.setLevel(level)
