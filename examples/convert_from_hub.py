"""Convert a released HAT checkpoint to Keras.

Online (the one step that needs the hub; `pip install huggingface_hub`):
    python examples/convert_from_hub.py --repo kiddothe2b/hierarchical-transformer-EC2-mini-1024 --out ec2.keras
Offline, from a folder you already have (config.json + pytorch_model.bin / model.safetensors [+ vocab.txt]):
    python examples/convert_from_hub.py --local path/to/checkpoint --out ec2.keras

Prints the layout read from the weights, what was loaded, and checks the `.keras` file reloads identically.
"""
import argparse

import numpy as np


def fetch(repo, revision=None):
    from huggingface_hub import snapshot_download  # only this example's online path needs it

    # Weights, config and tokenizer files only: the remote PyTorch code is not needed.
    return snapshot_download(repo, revision=revision, allow_patterns=["*.json", "*.bin", "*.safetensors", "*.txt"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--repo", help="hub repository id")
    src.add_argument("--local", help="checkpoint folder already on disk")
    p.add_argument("--revision")
    p.add_argument("--task", default=None, help="default: what the checkpoint holds (MLM for the released ones)")
    p.add_argument("--out", required=True, help="the .keras file to write")
    args = p.parse_args(argv)

    import keras

    import hat_keras

    folder = args.local or fetch(args.repo, args.revision)
    model = hat_keras.load(folder, task=args.task)
    print(model.load_report.summary())
    model.save(args.out)
    again = keras.models.load_model(args.out)
    backbone = model if isinstance(model, hat_keras.HATBackbone) else model.backbone
    S = backbone.segment_length * backbone.max_segments
    ids = np.random.default_rng(0).integers(1, backbone.vocabulary_size, (1, S)).astype("int32")
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    a = backbone(x)["sequence_output"]
    b = (again if isinstance(again, hat_keras.HATBackbone) else again.backbone)(x)["sequence_output"]
    diff = float(np.abs(np.asarray(a) - np.asarray(b)).max())
    print(f"wrote {args.out}: {type(model).__name__}, layout {backbone.layout}, reload max abs diff {diff:.1e}")
    return diff


if __name__ == "__main__":
    main()
