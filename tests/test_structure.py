"""The package's shape: the CLI sits on top (nothing imports it), no benchmark code ships, one task registry."""
import ast
import pathlib

import hat_keras
from hat_keras.models import HATTask

PACKAGE = pathlib.Path(hat_keras.__file__).parent


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_nothing_in_the_library_imports_the_cli():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if PACKAGE / "cli" not in p.parents
                 if any(m == "hat_keras.cli" or m.startswith("hat_keras.cli.") for m in _imports(p))]
    assert not offenders, offenders


def test_no_benchmark_code_in_the_package():
    assert not (PACKAGE / "benchmarking").exists()
    assert not [p for p in PACKAGE.rglob("*.py") if any(m.startswith("benchmarks") for m in _imports(p))]


def test_every_task_is_registered_once_with_unique_names():
    names = [n for t in HATTask.tasks() for n in t.task_names]
    architectures = [a for t in HATTask.tasks() for a in t.architectures]
    assert len(names) == len(set(names)) and len(architectures) == len(set(architectures))
    for t in HATTask.tasks():
        assert HATTask.resolve(t.task_names[0]) is t and HATTask.for_architecture(t.architectures[0]) is t
