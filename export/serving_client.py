"""Example TF Serving client for an exported HAT classifier (`hat-keras export MODEL --format saved_model OUT`).

Builds the three request kinds TF Serving accepts and optionally sends them:
  REST row format      POST http://HOST:8501/v1/models/NAME:predict  {"signature_name", "instances": [...]}
  REST columnar format POST ... {"signature_name", "inputs": {...}}
  gRPC                 tensorflow_serving.apis.predict_pb2.PredictRequest on HOST:8500
Raw text goes to the `classify_text` signature; ids (from the host tokenizer) go to `serving_default`.

  python export/serving_client.py OUT/hat/1 "first document" "second document"            # print payloads
  python export/serving_client.py OUT/hat/1 --rest http://localhost:8501 "a document"       # send REST
  python export/serving_client.py OUT/hat/1 --grpc localhost:8500 "a document"              # send gRPC
"""
import argparse
import json
import os
import sys
import urllib.request

import numpy as np


def rest_row_payload(token_ids, padding_mask, signature="serving_default"):
    """Row ("instances") format: one JSON object per document."""
    return {"signature_name": signature,
            "instances": [{"token_ids": [int(x) for x in t], "padding_mask": [int(x) for x in m]}
                          for t, m in zip(np.asarray(token_ids), np.asarray(padding_mask))]}


def rest_columnar_payload(token_ids, padding_mask, signature="serving_default"):
    """Columnar ("inputs") format: one list per input name."""
    return {"signature_name": signature,
            "inputs": {"token_ids": np.asarray(token_ids).astype(int).tolist(),
                       "padding_mask": np.asarray(padding_mask).astype(int).tolist()}}


def rest_text_payload(texts, columnar=False):
    """Raw strings for `classify_text` (tokenized in the server's graph)."""
    texts = [str(t) for t in texts]
    if columnar:
        return {"signature_name": "classify_text", "inputs": {"text": texts}}
    return {"signature_name": "classify_text", "instances": [{"text": t} for t in texts]}


def grpc_request(inputs, model_name="hat", signature="serving_default", version=None):
    """A `PredictRequest` for {input name: array}: int32 ids or a string vector for `classify_text`."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        value = np.asarray(value)
        dtype = tf.string if value.dtype.kind in "USO" else tf.int32
        if dtype is tf.string:
            value = np.asarray([str(v).encode("utf-8") for v in value.ravel()], dtype=object).reshape(value.shape)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    return request


def host_tokenizer(model_dir):
    """The HATTokenizer rebuilt from the SavedModel's assets: the same ids as its `tokenize` signature."""
    from hat_keras.tokenization import HATTokenizer
    assets = os.path.join(model_dir, "assets")
    with open(os.path.join(assets, "hat_export.json"), encoding="utf-8") as f:
        geo = json.load(f)
    return HATTokenizer.from_pretrained(assets, max_segments=geo["max_segments"],
                                        segment_length=geo["segment_length"]), geo


def post(url, payload):
    req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", help="OUT/NAME/VERSION of the exported SavedModel (for its vocabulary and labels)")
    p.add_argument("texts", nargs="+")
    p.add_argument("--name", default="hat")
    p.add_argument("--segmentation", default="uniform")
    p.add_argument("--rest", default=None, help="e.g. http://localhost:8501")
    p.add_argument("--grpc", default=None, help="e.g. localhost:8500")
    args = p.parse_args(argv)
    tok, geo = host_tokenizer(args.model_dir)
    enc = tok(args.texts, segmentation=args.segmentation)
    payloads = {"row": rest_row_payload(enc["token_ids"], enc["padding_mask"]),
                "columnar": rest_columnar_payload(enc["token_ids"], enc["padding_mask"]),
                "text_row": rest_text_payload(args.texts)}
    if args.rest:
        url = f"{args.rest.rstrip('/')}/v1/models/{args.name}:predict"
        for kind, payload in payloads.items():
            print(kind, json.dumps(post(url, payload))[:400])
    if args.grpc:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(args.grpc))
        for sig, inputs in (("serving_default", {"token_ids": enc["token_ids"], "padding_mask": enc["padding_mask"]}),
                            ("classify_text", {"text": np.asarray(args.texts)})):
            print(sig, stub.Predict(grpc_request(inputs, args.name, sig), 60.0))
    if not (args.rest or args.grpc):
        for kind, payload in payloads.items():
            print(kind, json.dumps(payload)[:300], "...")
        print("grpc", grpc_request({"token_ids": enc["token_ids"], "padding_mask": enc["padding_mask"]},
                                   args.name).ByteSize(), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
