"""Classify long documents with an exported `.tflite` on the standalone LiteRT runtime, as a phone does:
tokenize on the host with the vocabulary bundled in the file, then run one fixed-shape document at a time.

    hat-keras export MODEL --format tflite --quantize dynamic -o out/
    python examples/litert_inference.py out/model.tflite doc1.txt doc2.txt

The same sequence in Kotlin (Android) is in examples/android/HatClassifier.kt.
"""
import argparse
import json
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tflite")
    p.add_argument("files", nargs="+")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    from ai_edge_litert.interpreter import Interpreter

    from hat_keras.exporting.metadata import read_metadata
    from hat_keras.runtime import TFLiteTextClassifier

    info, files = read_metadata(args.tflite)                       # labels, geometry, vocab.txt travel inside
    print(f"model: {info['max_segments']} x {info['segment_length']} tokens, labels {info['labels']}, "
          f"bundled files {sorted(files)}")
    host = TFLiteTextClassifier(args.tflite, threads=args.threads)  # host tokenizer from the bundled vocabulary
    runner = Interpreter(model_path=args.tflite, num_threads=args.threads).get_signature_runner("serving_default")
    results = []
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            enc = host.encode([f.read()])
        t = time.perf_counter()
        logits = runner(token_ids=enc["token_ids"], padding_mask=enc["padding_mask"])["logits"][0]
        ms = 1000 * (time.perf_counter() - t)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        row = {"file": path, "label": info["labels"][int(probs.argmax())],
               "probabilities": dict(zip(info["labels"], map(float, probs))), "ms": round(ms, 1)}
        results.append(row)
        print(json.dumps(row))
    return results


if __name__ == "__main__":
    main()
