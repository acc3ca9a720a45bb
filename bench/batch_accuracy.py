"""Small against large batches: the course's "small batch is better on testing data" experiment.

    python -m bench batch-accuracy                     # batch 32 / 128 / 1024 / 8192, 10 epochs
    python -m bench batch-accuracy --subset 60000 --epochs 20
    python -m bench batch-accuracy --quick             # tiny data and network (seconds)

The network of the timing experiment (``784-500-500-10`` ReLU, :mod:`bench.batch_timing`) is trained
in tensorcore (the CPU's default backend) with SGD, momentum 0.9, for the **same number of epochs**
at every batch size, on ``--subset`` Fashion-MNIST training images (MNIST-shaped synthetic data when
Fashion-MNIST is not installed; the output says which). ``--val`` further training images are held
out as a validation set.

Learning rates: a larger batch wants a larger step. Each batch size gets a small sweep (``--sweep``
points, default 3) on the log grid :data:`LR_GRID`, centred on the grid point nearest to the
*linear-scaling rule* (Goyal et al. 2017: ``lr = 0.05 * batch / 128``) and clipped to the grid, so
the largest batches are capped at ``lr = 1``. Of the swept rates the one with the best
**validation** accuracy is selected; the test set is only reported. ``--lrs`` replaces the sweep
by a fixed list.

Reported per batch size and rate: final training loss, accuracy on the training subset (evaluation
mode), validation and test accuracy, the number of updates, and whether the run diverged.
The summary compares the selected runs with the lecture's claim (small batches do better on test
data) and with Keskar et al. (2016), "On Large-Batch Training for Deep Learning: Generalization Gap
and Sharp Minima": large batches reach similar *training* accuracy but lower *test* accuracy. With
equal epochs a large batch also makes far fewer updates, so the summary separates the two effects:
lower training accuracy (under-training) and a larger train - test gap (generalization).
One seed per point: differences of a few tenths of a percent are within seed-to-seed noise.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

BATCH_SIZES = (32, 128, 1024, 8192)
QUICK_BATCH_SIZES = (16, 128)
LR_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
BASE_LR, BASE_BATCH = 0.05, 128  # the linear-scaling rule's anchor
MOMENTUM = 0.9
EPOCHS = 10
SUBSET = 20000
VAL = 5000
HIDDEN = (500, 500)
ROW_KEYS = ("framework", "backend", "model", "data", "train_samples", "val_samples", "test_samples", "batch_size",
            "lr", "rule_lr", "momentum", "epochs", "updates", "seed", "threads", "train_loss", "train_acc",
            "val_acc", "test_acc", "diverged", "selected", "train_s")


@dataclass
class Split:
    """Training subset, validation and test arrays (flat float32 images, int64 labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    note: str


def load_split(subset: int, val: int, which: str = "auto", test: int | None = None, seed: int = 0) -> Split:
    """``subset`` training and ``val`` validation images drawn (disjoint, seeded) from the training set,
    and the test set (its first ``test`` images when given)."""
    from .batch_timing import synthetic

    source, note = "synthetic", ""
    if which != "synthetic":
        try:
            from tensorcore.data import FashionMNIST

            xtr, ytr = FashionMNIST(train=True).arrays(normalize=True, flatten=True)
            xte, yte = FashionMNIST(train=False).arrays(normalize=True, flatten=True)
            source, note = "fashion-mnist", "Fashion-MNIST"
        except Exception as exc:
            if which == "fashion-mnist":
                raise
            note = f"Fashion-MNIST unavailable ({type(exc).__name__}: {exc}); "
    if source == "synthetic":
        d = synthetic(60000 + 10000, seed=seed)
        xtr, ytr, xte, yte = d.x[:60000], d.y[:60000], d.x[60000:], d.y[60000:]
        note += "MNIST-shaped synthetic data"
    if subset + val > len(xtr):
        raise ValueError(f"--subset {subset} + --val {val} exceeds the {len(xtr)} training images")
    order = np.random.default_rng(seed).permutation(len(xtr))
    tr, va = order[:subset], order[len(xtr) - val:]
    if test is not None:
        xte, yte = xte[:test], yte[:test]
    return Split(np.ascontiguousarray(xtr[tr]), ytr[tr], np.ascontiguousarray(xtr[va]), ytr[va],
                 np.ascontiguousarray(xte), np.ascontiguousarray(yte), source, note)


def rule_lr(batch: int) -> float:
    """The linear-scaling rule's learning rate for ``batch``."""
    return BASE_LR * batch / BASE_BATCH


def sweep_lrs(batch: int, points: int = 3, grid: Sequence[float] = LR_GRID) -> list[float]:
    """``points`` consecutive rates of ``grid`` centred on the grid point nearest (in log) to
    :func:`rule_lr`, shifted to stay inside the grid."""
    points = max(1, min(points, len(grid)))
    target = math.log(rule_lr(batch))
    centre = min(range(len(grid)), key=lambda i: abs(math.log(grid[i]) - target))
    lo = min(max(0, centre - (points - 1) // 2), len(grid) - points)
    return list(grid[lo:lo + points])


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, chunk: int = 2000) -> float:
    """Accuracy of ``model`` (evaluation mode, no graph) on ``x``, ``y``."""
    import tensorcore as tc

    model.eval()
    with tc.no_grad():
        pred = np.concatenate([model(tc.from_numpy(x[i:i + chunk])).argmax(dim=1).numpy()
                               for i in range(0, len(x), chunk)])
    model.train()
    return float((pred == y).mean())


def train_one(split: Split, sizes: Sequence[int], batch: int, lr: float, epochs: int, *, momentum: float = MOMENTUM,
              seed: int = 0, backend: str | None = None) -> dict[str, Any]:
    """Train a fresh MLP (seeded) with SGD at ``batch`` and ``lr`` for ``epochs``; the run's results."""
    import tensorcore as tc
    from tensorcore import nn, optim
    from tensorcore.models import MLP

    backend = backend or tc.backends.default("cpu").name
    tc.manual_seed(seed)
    model = MLP(list(sizes), activation="relu")
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    n = len(split.x_train)
    updates, diverged, loss_sum, count = 0, False, 0.0, 0
    start = time.perf_counter()
    with tc.use_backend(backend):
        for _ in range(epochs):
            order = rng.permutation(n)
            loss_sum, count = 0.0, 0
            for i in range(0, n, batch):
                idx = order[i:i + batch]
                xb, yb = tc.from_numpy(np.ascontiguousarray(split.x_train[idx])), tc.from_numpy(split.y_train[idx])
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                updates += 1
                value = loss.item()
                loss_sum += value * len(idx)
                count += len(idx)
                if not math.isfinite(value):
                    diverged = True
                    break
            if diverged:
                break
        train_s = time.perf_counter() - start
        accs = [accuracy(model, x, y) for x, y in ((split.x_train, split.y_train), (split.x_val, split.y_val),
                                                   (split.x_test, split.y_test))]
    return {"backend": backend, "batch_size": batch, "lr": lr, "rule_lr": rule_lr(batch), "momentum": momentum,
            "epochs": epochs, "updates": updates, "seed": seed, "train_loss": loss_sum / max(count, 1),
            "train_acc": accs[0], "val_acc": accs[1], "test_acc": accs[2], "diverged": diverged,
            "train_s": train_s}


def run(split: Split, batch_sizes: Sequence[int], *, sizes: Sequence[int] = (784, *HIDDEN, 10), epochs: int = EPOCHS,
        lrs: Sequence[float] | None = None, sweep: int = 3, momentum: float = MOMENTUM, seed: int = 0,
        backend: str | None = None, threads: int = 1,
        progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every (batch size, learning rate) run, with the validation-selected one per batch size marked."""
    model = f"mlp {'-'.join(map(str, sizes))} relu"
    rows = []
    for bs in batch_sizes:
        group = []
        for lr in (list(lrs) if lrs else sweep_lrs(bs, sweep)):
            r = train_one(split, sizes, bs, lr, epochs, momentum=momentum, seed=seed, backend=backend)
            r.update(framework="tensorcore", model=model, data=split.source, train_samples=len(split.x_train),
                     val_samples=len(split.x_val), test_samples=len(split.x_test), threads=threads, selected=False)
            group.append(r)
            if progress is not None:
                progress(f"batch {bs:>5}  lr {lr:<6g} {r['updates']:>6} updates  {r['train_s']:6.1f} s   loss "
                         f"{r['train_loss']:.4f}   train {100 * r['train_acc']:5.2f} %   "
                         f"val {100 * r['val_acc']:5.2f} %   test {100 * r['test_acc']:5.2f} %"
                         f"{'   DIVERGED' if r['diverged'] else ''}")
        ok = [r for r in group if not r["diverged"]] or group
        max(ok, key=lambda r: (r["val_acc"], -r["lr"]))["selected"] = True
        rows += [{k: r[k] for k in ROW_KEYS} for r in group]
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The selected run of every batch size, with its swept alternatives' validation accuracies."""
    head = ("batch", "lr (rule)", "swept lr: val acc", "updates", "train loss", "train acc", "test acc",
            "gap", "train time")
    cells = []
    for r in sorted((r for r in rows if r["selected"]), key=lambda r: r["batch_size"]):
        swept = [o for o in rows if o["batch_size"] == r["batch_size"]]
        sweep_text = ", ".join(f"{o['lr']:g}: " + ("div" if o["diverged"] else f"{100 * o['val_acc']:.1f}")
                               for o in swept)
        cells.append((str(r["batch_size"]), f"{r['lr']:g} ({r['rule_lr']:.3g})", sweep_text, str(r["updates"]),
                      f"{r['train_loss']:.4f}", f"{100 * r['train_acc']:.2f} %", f"{100 * r['test_acc']:.2f} %",
                      f"{100 * (r['train_acc'] - r['test_acc']):+.2f} pp", f"{r['train_s']:.1f} s"))
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
    left = {2}

    def fmt(c: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i in left else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths)))

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(c) for c in cells])


def findings(rows: Sequence[dict[str, Any]]) -> list[str]:
    """What the selected runs say about the lecture's claim and Keskar et al.'s generalization gap."""
    sel = sorted((r for r in rows if r["selected"]), key=lambda r: r["batch_size"])
    if len(sel) < 2:
        return ["one batch size only: nothing to compare"]
    sb, lb = sel[0], sel[-1]
    pp = lambda v: f"{100 * v:.2f} %"  # noqa: E731
    d_test = sb["test_acc"] - lb["test_acc"]
    d_train = sb["train_acc"] - lb["train_acc"]
    gap_sb, gap_lb = sb["train_acc"] - sb["test_acc"], lb["train_acc"] - lb["test_acc"]
    out = [f"Small batch {sb['batch_size']} (lr {sb['lr']:g}, {sb['updates']} updates): train {pp(sb['train_acc'])}, "
           f"test {pp(sb['test_acc'])}; large batch {lb['batch_size']} (lr {lb['lr']:g}, {lb['updates']} updates): "
           f"train {pp(lb['train_acc'])}, test {pp(lb['test_acc'])}."]
    if d_test > 0.005:
        verdict = f"holds here: the small batch is {100 * d_test:.2f} points better on test data"
    elif d_test < -0.005:
        verdict = f"does not hold here: the large batch is {100 * -d_test:.2f} points better on test data"
    else:
        verdict = f"is not visible here: test accuracies differ by {100 * d_test:+.2f} points (seed noise level)"
    out.append(f"Lecture (small batches do better on test data): {verdict}.")
    mono = all(a["test_acc"] >= b["test_acc"] - 0.002 for a, b in zip(sel, sel[1:]))
    out.append("Test accuracy " + ("falls (or stays level) as the batch grows across all sizes."
                                   if mono else "is not monotone in the batch size: "
                                   + ", ".join(f"{r['batch_size']}: {pp(r['test_acc'])}" for r in sel) + "."))
    if d_train > 0.01:
        out.append(f"But the large batch also fits the training data worse ({100 * d_train:.2f} points lower training "
                   f"accuracy): with equal epochs it made {sb['updates'] // max(lb['updates'], 1)}x fewer updates, so "
                   f"most of its test deficit is under-training (the lecture's 'noisy updates help training'), "
                   f"not the sharp-minimum effect.")
    if gap_lb > gap_sb + 0.005 and abs(d_train) <= 0.01:
        keskar = (f"appears: similar training accuracy, but a train - test gap of {100 * gap_lb:.2f} points for the "
                  f"large batch against {100 * gap_sb:.2f} for the small one")
    elif gap_lb > gap_sb + 0.005:
        keskar = (f"is suggested but confounded: the large batch's train - test gap is larger ({100 * gap_lb:.2f} vs "
                  f"{100 * gap_sb:.2f} points) while its training accuracy also differs")
    else:
        keskar = (f"does not appear: the train - test gap is {100 * gap_lb:.2f} points for the large batch and "
                  f"{100 * gap_sb:.2f} for the small one; at equal epochs the small batch fits (and overfits) "
                  f"more, and Keskar et al. trained both to ~100 % training accuracy before comparing")
    out.append(f"Keskar et al. 2016 (generalization gap at equal training accuracy): {keskar}.")
    edge = [r for r in sel if len({o["lr"] for o in rows if o["batch_size"] == r["batch_size"]}) > 1
            and r["lr"] in (min(o["lr"] for o in rows if o["batch_size"] == r["batch_size"]),
                            max(o["lr"] for o in rows if o["batch_size"] == r["batch_size"]))]
    if edge:
        out.append("Selected rate at the edge of its sweep (a wider sweep might do better): "
                   + ", ".join(f"batch {r['batch_size']} lr {r['lr']:g}" for r in edge) + ".")
    out.append("One seed per point; differences of a few tenths of a point are within seed-to-seed noise.")
    return out


# --------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``batch-accuracy`` subcommand's options."""
    p.add_argument("--quick", action="store_true",
                   help="512 training images, hidden 64,64, batch sizes 16 and 128, 2 epochs, one lr (seconds)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, help=f"default {BATCH_SIZES}")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs at every batch size (default {EPOCHS})")
    p.add_argument("--subset", type=int, default=None, help=f"training images (default {SUBSET}; 55000 at most)")
    p.add_argument("--val", type=int, default=None, help=f"held-out validation images (default {VAL})")
    p.add_argument("--test", type=int, default=None, help="use the first N test images (default all)")
    p.add_argument("--data", choices=("auto", "fashion-mnist", "synthetic"), default="auto")
    p.add_argument("--hidden", default=None, help="hidden widths (default 500,500)")
    p.add_argument("--lrs", type=float, nargs="+", default=None, help="fixed learning rates instead of the sweep")
    p.add_argument("--sweep", type=int, default=3, help="learning rates swept per batch size (default 3)")
    p.add_argument("--momentum", type=float, default=MOMENTUM)
    p.add_argument("--backend", default=None, help="tensorcore CPU backend (default: the fastest available)")
    p.add_argument("--threads", type=int, default=None, help="threads for tensorcore's C++ kernels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for JSON, CSV and PNG (default bench/results)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


def main(args: argparse.Namespace) -> int:
    """The ``batch-accuracy`` subcommand."""
    import tensorcore as tc

    from . import machine, report
    from .kernels import cpu_threads, set_cpu_threads

    start = time.perf_counter()
    if args.threads is not None:
        set_cpu_threads(args.threads)
    threads = args.threads or cpu_threads()
    q = args.quick
    batch_sizes = args.batch_sizes or (QUICK_BATCH_SIZES if q else BATCH_SIZES)
    epochs = args.epochs or (2 if q else EPOCHS)
    subset = args.subset or (512 if q else SUBSET)
    val = args.val or (256 if q else VAL)
    test = args.test or (1000 if q else None)
    hidden = [int(h) for h in (args.hidden or ("64,64" if q else ",".join(map(str, HIDDEN)))).split(",") if h.strip()]
    lrs = args.lrs or ([0.05] if q else None)
    if epochs < 1 or min(batch_sizes) < 1:
        raise SystemExit("batch-accuracy: --epochs and batch sizes must be >= 1")
    desc = machine.describe()
    print("\n".join(machine.summary_lines(desc)), flush=True)
    split = load_split(subset, val, args.data, test, args.seed)
    sizes = (split.x_train.shape[1], *hidden, 10)
    backend = args.backend or tc.backends.default("cpu").name
    how = (f"fixed lr {', '.join(f'{v:g}' for v in lrs)}" if lrs else
           f"lr: {args.sweep}-point sweep per batch on {list(LR_GRID)} around the linear-scaling rule "
           f"{BASE_LR:g} x batch / {BASE_BATCH}, selected on validation accuracy")
    print(f"\nbatch-accuracy: mlp {'-'.join(map(str, sizes))} ReLU, SGD momentum {args.momentum:g}, {epochs} epochs; "
          f"{split.note}: {len(split.x_train)} train / {len(split.x_val)} validation / {len(split.x_test)} test; "
          f"batch sizes {list(batch_sizes)}; {how}; backend {backend}, {threads} threads\n", flush=True)
    rows = run(split, batch_sizes, sizes=sizes, epochs=epochs, lrs=lrs, sweep=args.sweep, momentum=args.momentum,
               seed=args.seed, backend=backend, threads=threads, progress=lambda s: print("  " + s, flush=True))
    print()
    print(format_table(rows))
    print("\ngap: training accuracy minus test accuracy (percentage points); lr (rule): the selected rate and "
          "the linear-scaling rule's")
    print("\n".join(findings(rows)))
    command = " ".join(["python -m bench"] + list(args.argv))
    path = report.write_json("batch-accuracy-quick" if q else "batch-accuracy", desc, rows, args.out,
                             command=command, row_keys=ROW_KEYS)
    csv_path = report.write_csv(path.with_suffix(".csv"), rows, ROW_KEYS)
    print(f"\nresults written to {path}\n                   {csv_path}")
    if not args.no_plot:
        from . import plot

        png = plot.plot_batch_accuracy(plot.load(path), path.with_suffix(".png"))
        print(f"                   {png}")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 0


__all__ = ["BATCH_SIZES", "ROW_KEYS", "LR_GRID", "rule_lr", "sweep_lrs", "load_split", "train_one", "run",
           "findings", "format_table", "main"]
