"""Continue HAT MLM pre-training on TPU, GPU(s), a TF_CONFIG cluster or CPU.

    python tpu_training/train_mlm.py --model hat-minilm --train corpus/*.txt --output-dir runs/mlm \
        --strategy tpu --tpu local --batch-size 16 --max-steps 50000 --precision mixed_bfloat16 \
        --steps-per-execution 100 --checkpoint-every 1000

Same flags as `hat-keras train mlm`; see tpu_training/README.md.
"""
import sys

from hat_keras.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", "mlm", *sys.argv[1:]]))
