"""Shared test fixtures: where ../shared is, and skips with a reason when it is absent."""
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("HAT_SHARED", ROOT.parent / "shared")).resolve()
FIXTURES = SHARED / "fixtures" / "hat_reference"
DATA = SHARED / "data"


def need(path):
    """Skip (with the reason) when a shared file is absent, e.g. outside this repository's checkout."""
    if not pathlib.Path(path).exists():
        pytest.skip(f"{path} not found: set HAT_SHARED to the shared/ folder (fixtures and data) to run this test")
    return pathlib.Path(path)


@pytest.fixture(scope="session")
def fixtures_dir():
    return need(FIXTURES)


@pytest.fixture(scope="session")
def data_dir():
    return need(DATA)
