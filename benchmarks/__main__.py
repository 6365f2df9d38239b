"""`python -m benchmarks SUITE`: side-by-side speed of the Keras port and the PyTorch peer, from a checkout.

Each suite also runs alone (`python -m benchmarks.inference ...`); results: docs/performance.md.
"""
import argparse

SUITES = ("inference", "training", "scaling", "profile", "gpu", "quality", "long_documents")


def _suite(name):
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


def main(argv=None):
    """`python -m benchmarks SUITE [options]` (SUITES): one table per run."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="suite", required=True)
    for name in SUITES:
        module = _suite(name)
        sp = sub.add_parser(name, help=module.__doc__.split("\n")[0],
                            description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sp)
        sp.set_defaults(func=lambda a, m=module: m.main_args(a))
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
