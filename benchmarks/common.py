"""Shared timing helpers for the benchmark scripts (they live in the package: hat_keras/benchmarking)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hat_keras.benchmarking.common import *  # noqa: E402,F401,F403
