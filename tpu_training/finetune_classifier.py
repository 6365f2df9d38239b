"""Fine-tune a HAT document classifier on TPU, GPU(s), a TF_CONFIG cluster or CPU.

    python tpu_training/finetune_classifier.py hat-minilm --train train.jsonl --eval test.jsonl \
        --output runs/cls --strategy tpu --tpu local --batch-size 8 --epochs 3 --label-field label

Same arguments as `hat-keras train text_classifier`; multi-label: `--label-field a,b,c` (one 0/1 field per class).
"""
import sys

from hat_keras.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "text_classifier", *sys.argv[1:]]))
