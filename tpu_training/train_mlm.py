"""Continue HAT MLM pre-training on TPU, GPU(s), a TF_CONFIG cluster or CPU.

    python tpu_training/train_mlm.py hat-minilm --train corpus/*.txt --output runs/mlm \
        --strategy tpu --tpu local --batch-size 16 --max-steps 50000 --precision mixed_bfloat16 \
        --steps-per-execution 100 --checkpoint-every 1000

Same arguments as `hat-keras train masked_lm`; see tpu_training/README.md.
"""
import sys

from hat_keras.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "masked_lm", *sys.argv[1:]]))
