"""Vocabulary, labels and segment geometry packed inside a `.tflite` file.

Two standard carriers, so any runtime can read them without side files:
  * a flatbuffer `metadata` entry named `hat_keras` holding JSON (labels, geometry, tokenizer settings);
  * associated files (`vocab.txt`, `labels.txt`, `hat_export.json`) appended as a zip archive, the layout
    TFLite Support's MetadataPopulator uses: the interpreter reads the flatbuffer from the start of the file
    and ignores the archive; `zipfile` / `java.util.zip` read the archive from the end.
"""
import io
import json
import zipfile

import numpy as np

METADATA_NAME = "hat_keras"


def _schema():
    from ai_edge_litert import schema_py_generated as schema
    return schema


def model_object(tflite_bytes):
    """The mutable flatbuffer object of a `.tflite`, buffers stored past the flatbuffer (offset/size, as
    ai-edge-quantizer writes them) read in, each as a numpy array so that packing stays fast."""
    from ai_edge_litert.tools import flatbuffer_utils
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_bytes))
    for buf in model.buffers:
        if buf.data is not None and not isinstance(buf.data, np.ndarray):
            buf.data = np.frombuffer(bytes(buf.data), np.uint8)  # a list would be packed byte by byte
    return model


def model_bytes(model):
    from ai_edge_litert.tools import flatbuffer_utils
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def add_metadata(tflite_bytes, info, files):
    """tflite bytes + JSON-able `info` + {name: bytes} -> tflite bytes with metadata and associated files."""
    schema = _schema()
    model = model_object(tflite_bytes)
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(info, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())]
    model.metadata.append(entry)
    out = model_bytes(model)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out + archive.getvalue()


def read_metadata(path):
    """(info dict, {associated file name: bytes}) of a `.tflite` written by `add_metadata`."""
    schema = _schema()
    with open(path, "rb") as f:
        data = f.read()
    model = schema.Model.GetRootAs(data, 0)
    info = None
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name().decode() == METADATA_NAME:
            info = json.loads(model.Buffers(m.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    if info is None:
        raise ValueError(f"{path}: no `{METADATA_NAME}` metadata (not a hat-keras export)")
    for old, new in (("max_sentences", "max_segments"), ("max_sentence_length", "segment_length")):
        if old in info:  # exported before 0.2
            info[new] = info.pop(old)
    files = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            files[name] = z.read(name)
    return info, files


def operators(path_or_bytes):
    """Sorted operator names of a `.tflite` (custom ops, e.g. Flex, by their custom code)."""
    schema = _schema()
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else open(path_or_bytes, "rb").read()
    model = schema.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = set()
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            ops.add("CUSTOM:" + oc.CustomCode().decode())
        else:
            ops.add(names.get(code, str(code)))
    return sorted(ops)
