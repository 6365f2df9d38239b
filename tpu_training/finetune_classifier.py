"""Fine-tune a HAT document classifier on TPU, GPU(s), a TF_CONFIG cluster or CPU.

    python tpu_training/finetune_classifier.py --model hat-minilm --train train.jsonl --eval test.jsonl \
        --output-dir runs/cls --strategy tpu --tpu local --batch-size 8 --epochs 3 --label-field label

Same flags as `hat-keras train classify`; multi-label: `--label-field a,b,c` (one 0/1 field per class).
"""
import sys

from hat_keras.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "classify", *sys.argv[1:]]))
