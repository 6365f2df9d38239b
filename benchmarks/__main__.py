"""`hat-keras bench`: side-by-side speed of the Keras port and the PyTorch peer (see benchmarks/)."""
import argparse

SUITES = ("inference", "training", "scaling", "profile", "gpu")


def _suite(name):
    import importlib

    return importlib.import_module(f"hat_keras.benchmarking.{name}")


def add_bench_parser(subparsers):
    """`hat-keras bench {inference,training,scaling,profile,gpu} [options]`: one table per run."""
    p = subparsers.add_parser("bench", help="benchmark against the PyTorch peer (one table per suite)")
    sub = p.add_subparsers(dest="suite", required=True)
    for name in SUITES:
        module = _suite(name)
        sp = sub.add_parser(name, help=module.__doc__.split("\n")[0],
                            description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sp)
        sp.set_defaults(func=lambda a, m=module: m.main_args(a))
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(prog="hat-keras")
    add_bench_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return args.func(args)
