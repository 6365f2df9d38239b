"""Profile benchmark (also `hat-keras bench profile`); see hat_keras/benchmarking/profile.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hat_keras.benchmarking.profile import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
