"""``python -m bench``: the benchmarks' command line.

Subcommands (``kernels`` is the default, so ``python -m bench --quick`` works):

* ``kernels`` — kernel benchmarks of every contract op (forward and backward) on every available
  backend against NumPy and PyTorch, plus the matmul ladder and a memory-copy bandwidth
  (``--op matmul conv2d ...``, ``--quick``, ``--backend cpp``); prints a table and writes
  ``bench/results/kernels-<machine>-<timestamp>.json``.
* ``machine`` — print (or ``--json``) the machine description stored with every result.
* ``train`` — the MLP training benchmark, same options as ``python -m bench.train``.
* ``batch-timing`` — the course's batch-size timing experiment: time per update and per epoch for
  batch sizes 1 ... 60000 on every backend and PyTorch (:mod:`bench.batch_timing`).
* ``batch-accuracy`` — the same network trained with small and large batches: train and test
  accuracy against the batch size (:mod:`bench.batch_accuracy`).
* ``plot`` — figures from the JSON results: matmul GFLOP/s, the matmul ladder, rooflines and the two
  experiments' figures (:mod:`bench.plot`).
* ``gpu`` — the GPU report of one backend (``--backend numba`` or ``cupy``): its matmul ladder against
  cuBLAS, softmax, cross-entropy and pooling against the copy bandwidth, conv2d and the LSTM cell
  against PyTorch; writes ``bench/results/gpu-<backend>-<machine>-<timestamp>.json`` and ``.md``
  (:mod:`bench.gpu`; ``--device cpu --backend cpp`` runs the same report on the CPU).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

SUBCOMMANDS = ("kernels", "machine", "train", "batch-timing", "batch-accuracy", "plot", "gpu")


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
                   help="ops to benchmark (default: all of them)")
    k.add_argument("--quick", action="store_true", help="fewer, smaller sizes and shorter timing (< 2 minutes)")
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
    from . import batch_accuracy, batch_timing, gpu, plot

    bt = sub.add_parser("batch-timing", help="time per update and per epoch against the batch size",
                        description=batch_timing.__doc__.split("\n\n")[0])
    batch_timing.add_arguments(bt)
    ba = sub.add_parser("batch-accuracy", help="train / test accuracy against the batch size",
                        description=batch_accuracy.__doc__.split("\n\n")[0])
    batch_accuracy.add_arguments(ba)
    pl = sub.add_parser("plot", help="figures from the JSON results", description=plot.__doc__.split("\n\n")[0])
    plot.add_arguments(pl)
    g = sub.add_parser("gpu", help="GPU report of one backend against cuBLAS, copy bandwidth and PyTorch",
                       description=gpu.__doc__.split("\n\n")[0].replace("``", ""))
    gpu.add_arguments(g)
    return parser


def run_kernels(args: argparse.Namespace) -> int:
    """The ``kernels`` subcommand."""
    from . import kernels, machine, report

    start = time.perf_counter()
    desc = machine.describe()
    lines = machine.summary_lines(desc)
    print("\n".join(lines), flush=True)
    print(flush=True)
    ops = args.op or list(kernels.DEFAULT_OPS)
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
    if args.command == "batch-timing":
        from . import batch_timing

        return batch_timing.main(args)
    if args.command == "batch-accuracy":
        from . import batch_accuracy

        return batch_accuracy.main(args)
    if args.command == "plot":
        from . import plot

        return plot.main(args)
    if args.command == "gpu":
        from . import gpu

        return gpu.main(args)
    return run_kernels(args)


if __name__ == "__main__":
    sys.exit(main())
