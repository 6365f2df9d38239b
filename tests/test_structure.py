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
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "cli.py" or p.parent != PACKAGE
                 if any(m == "hat_keras.cli" for m in _imports(p))]
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


def test_training_goes_through_the_registry():
    import pytest

    from hat_keras.training.recipes import TrainArgs, resolve_trainable, train

    trainable = HATTask.trainable_tasks()
    assert {t.task_names[0] for t in trainable} == {"masked_lm", "text_classifier"}
    for t in trainable:
        for name in t.task_names:  # every alias, including the old "mlm" / "classify"
            assert resolve_trainable(name) is t
    assert resolve_trainable("mlm").task_names[0] == "masked_lm"
    assert resolve_trainable("classify").task_names[0] == "text_classifier"
    args = TrainArgs(output_dir="unused", train_data=["unused"])
    for t in HATTask.tasks():
        if not t.supports_training:
            with pytest.raises(ValueError, match=rf"task='{t.task_names[0]}' does not support training yet; "
                                                 "trainable tasks: masked_lm, text_classifier"):
                train(t.task_names[-1], args)  # refused before reading data or building a strategy
    with pytest.raises(ValueError, match="is not a task; trainable tasks: masked_lm, text_classifier"):
        train("nope", args)


def test_only_the_text_classifier_is_a_document_classifier():
    assert [t.task_names[0] for t in HATTask.tasks() if t.document_classifier] == ["text_classifier"]


def test_old_run_records_name_their_task_by_alias():
    from hat_keras.training.run_record import changes, task_name

    assert task_name("mlm") == "masked_lm" and task_name("classify") == "text_classifier"
    assert not changes({"task": "classify"}, {"task": "text_classifier"})
    assert changes({"task": "mlm"}, {"task": "text_classifier"}) == ["task masked_lm -> text_classifier"]
