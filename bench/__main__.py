"""``python -m bench``: the benchmarks' command line.

Subcommands (``kernels`` is the default, so ``python -m bench --quick`` works):

* ``kernels`` — kernel benchmarks of every available CPU backend against NumPy and PyTorch
  (``--op matmul softmax ...``, ``--quick``, ``--backend cpp``); prints a table and writes
  ``bench/results/kernels-<machine>-<timestamp>.json``.
* ``machine`` — print (or ``--json``) the machine description stored with every result.
* ``train`` — the MLP training benchmark, same options as ``python -m bench.train``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

SUBCOMMANDS = ("kernels", "machine", "train")


def _shape(text: str) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 4096x1000, got {text!r}") from None
    return r, c


def build_parser() -> argparse.ArgumentParser:
    from . import kernels

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0].strip("`: "),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    k = sub.add_parser("kernels", help="kernel benchmarks against NumPy and PyTorch (default)")
    k.add_argument("--op", nargs="+", choices=kernels.OPS, default=None,
                   help="ops to benchmark (default: matmul softmax)")
    k.add_argument("--quick", action="store_true", help="fewer, smaller sizes and shorter timing (< 1 minute)")
    k.add_argument("--backend", action="append", default=None,
                   help="tensorcore backend to benchmark (repeatable; default: every available CPU backend)")
    k.add_argument("--sizes", type=int, nargs="+", default=None, help="square matmul sizes (overrides the defaults)")
    k.add_argument("--no-ragged", action="store_true", help="skip the ragged 1000x1001x999 matmul")
    k.add_argument("--shapes", type=_shape, nargs="+", default=None,
                   help="ROWSxCOLS shapes for softmax-like ops (overrides the defaults)")
    k.add_argument("--min-time", type=float, default=None, help="seconds of timed runs per row")
    k.add_argument("--settle", type=float, default=None,
                   help="seconds to pause before each row so other thread pools go idle (default 0.2)")
    k.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    k.add_argument("--out", default=None, help="folder for the JSON file (default: bench/results)")
    k.add_argument("--no-json", action="store_true", help="print the table only")
    m = sub.add_parser("machine", help="describe this machine")
    m.add_argument("--json", action="store_true", help="as JSON")
    sub.add_parser("train", help="MLP training benchmark (see python -m bench train --help)", add_help=False)
    return parser


def run_kernels(args: argparse.Namespace) -> int:
    """The ``kernels`` subcommand."""
    from . import kernels, machine, report

    start = time.perf_counter()
    desc = machine.describe()
    lines = machine.summary_lines(desc)
    print("\n".join(lines), flush=True)
    print(flush=True)
    ops = args.op or ["matmul", "softmax"]
    rows = kernels.run(ops, quick=args.quick, backends=args.backend, sizes=args.sizes,
                       ragged=False if args.no_ragged else None, shapes=args.shapes,
                       torch=not args.no_torch, min_time=args.min_time,
                       settle=kernels.SETTLE_S if args.settle is None else args.settle,
                       progress=lambda line: print("  " + line, flush=True))
    path = None
    if not args.no_json:
        name = "kernels-quick" if args.quick else "kernels"
        path = report.write_json(name, desc, rows, args.out,
                                 command=" ".join(["python -m bench"] + list(args.argv)))
    print()
    report.print_report([], rows, path)
    if not desc["gpu"].get("found"):
        print(f"GPU not found: {desc['gpu'].get('reason')}; GPU backends were not benchmarked.")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS + ("-h", "--help"):
        argv = ["kernels"] + argv
    if argv[0] == "train":
        from . import train

        return train.main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.command == "machine":
        from . import machine

        desc = machine.describe()
        print(json.dumps(desc, indent=1) if args.json else "\n".join(machine.summary_lines(desc)))
        return 0
    return run_kernels(args)


if __name__ == "__main__":
    sys.exit(main())
