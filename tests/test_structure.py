"""The package's shape: layers with no cycles, the CLI on top, no benchmark code in the wheel, one task registry.

The import graph is read from the source (every `import`, function-level ones included, relative ones
resolved), so a lazy import inside a function counts like one at the top of a module: the layers hold for
whatever code path runs.
"""
import ast
import pathlib

import hat_keras
from hat_keras.models import HATTask

PACKAGE = pathlib.Path(hat_keras.__file__).parent

# Lowest first. A module may import from its own layer or a lower one, never from a higher one, and never the
# root package (only hat_keras/__init__.py assembles the public API). A name is a module or a subpackage
# directly under hat_keras/ (`cli` may be either).
LAYERS = [
    ("compat", "config", "datasets", "logs", "staging"),
    ("layers",),
    ("tokenization",),
    ("models",),
    ("convert",),
    ("loading",),
    ("training", "exporting", "runtime", "context", "explain", "inference"),
    ("predict", "quickstart"),
    ("cli",),
]


def _module_name(path, root, package):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def import_graph(root, package):
    """{module: {imported module of the same package: first line}} for every .py file under `root` (the folder of
    `package`). `from a import b` counts as an import of `a.b` where that is a module, else of `a`."""
    root = pathlib.Path(root)
    files = {_module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for target in targets:
                while target not in files and "." in target:  # `import a.b.c` of a non-module name
                    target = target.rpartition(".")[0]
                if target in files and (target == package or target.startswith(package + ".")) and target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def _unit(module, package):
    return module[len(package) + 1:].split(".")[0] if module != package else None


def _cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_violations(root, package, layers):
    """Human-readable problems: modules in no layer, imports of the root package, upward imports, cycles."""
    rank = {unit: i for i, names in enumerate(layers) for unit in names}
    graph = import_graph(root, package)
    problems = []
    for module, edges in sorted(graph.items()):
        unit = _unit(module, package)
        if unit is None:
            continue  # the root package assembles the public API from every layer
        if unit not in rank:
            problems.append(f"{module}: in no declared layer")
            continue
        for target, line in sorted(edges.items()):
            other = _unit(target, package)
            if other is None:
                problems.append(f"{module}:{line} imports the root package {package}")
            elif other in rank and rank[other] > rank[unit]:
                problems.append(f"{module}:{line} imports {target} from a higher layer ({other} above {unit})")
    acyclic = {m: {t: ln for t, ln in e.items() if t != package} for m, e in graph.items() if m != package}
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(acyclic)]
    return problems


def test_the_package_keeps_its_layers_without_cycles():
    assert layer_violations(PACKAGE, "hat_keras", LAYERS) == []


def _write(tmp_path, files):
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checker_finds_a_planted_cycle(tmp_path):
    root = _write(tmp_path, {"__init__.py": "", "low.py": "", "a/__init__.py": "from .b import f\n",
                             "a/b.py": "def f():\n    from pkg.a import c\n", "a/c.py": "from pkg.a import f\n"})
    problems = layer_violations(root, "pkg", [("low",), ("a",)])
    assert problems == ["import cycle: pkg.a -> pkg.a.b -> pkg.a.c"], problems


def test_the_checker_finds_an_upward_import_a_root_import_and_an_undeclared_module(tmp_path):
    root = _write(tmp_path, {"__init__.py": "", "low.py": "def f():\n    from . import high\n",
                             "high.py": "import os\n", "mid.py": "import pkg\n", "stray.py": ""})
    problems = layer_violations(root, "pkg", [("low",), ("mid",), ("high",)])
    assert problems == ["pkg.low:2 imports pkg.high from a higher layer (high above low)",
                        "pkg.mid:1 imports the root package pkg", "pkg.stray: in no declared layer"], problems


def test_nothing_in_the_library_imports_the_cli():
    graph = import_graph(PACKAGE, "hat_keras")
    offenders = [m for m, edges in graph.items() if _unit(m, "hat_keras") not in (None, "cli")
                 if any(_unit(t, "hat_keras") == "cli" for t in edges)]
    assert not offenders, offenders


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_no_benchmark_code_in_the_package():
    assert not (PACKAGE / "benchmarking").exists()
    assert not list(PACKAGE.rglob("*browser*"))  # the headless-Chromium driver is benchmarks/browser.py
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
