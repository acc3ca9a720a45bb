"""The course's "Batch and Momentum" timing experiment: how long one update and one epoch take as the
batch grows from 1 to the whole training set.

    python -m bench batch-timing                       # 60000 images, batch 1 ... 60000
    python -m bench batch-timing --quick               # tiny data, two batch sizes (seconds)
    python -m bench batch-timing --backend cpp --no-torch --budget-s 5

The network is the course's fully connected MNIST classifier, ``784-500-500-10`` (the layer widths
of the course's Keras demo; ReLU here instead of the demo's sigmoid), trained with SGD with momentum
0.9 and cross-entropy, on the 60000 Fashion-MNIST training images when they are installed (else
MNIST-shaped synthetic data, which the output says). For every batch size and every *line* — each
available tensorcore backend on each device (``numpy`` and ``cpp`` on the CPU; the GPU backends when
a real GPU is present) plus PyTorch eager on the CPU (and on CUDA when it has a GPU) as reference —
two numbers are measured:

* **time for one update**: ``zero_grad``, forward, loss, backward and the optimizer step on one fixed
  batch already in memory, bracketed by the device's synchronize hook (``tc.cuda.synchronize`` /
  ``torch.cuda.synchronize``; CUDA events on a GPU); the median of several runs after a warm-up.
* **time for one epoch**: every batch of a shuffled pass over the training set, including the fancy
  index that gathers each batch, synchronized once at the end. Measured (median of up to 3 epochs)
  where the estimate ``updates per epoch × update time`` fits ``--budget-s``; otherwise that estimate
  is reported. Every point says which (``epoch_source``: ``measured`` / ``estimated``).

At batch 1 the step is all overhead, so the run also times a *bare* step for each tensorcore line:
the same backend kernel entries (matmul, bias add, ReLU, fused cross-entropy and their backwards,
the SGD update) called directly on arrays, without ``Tensor``, autograd or optimizer objects. The
difference to the full step is the Python layer's share; PyTorch eager on the same device is the
comparison.

Writes ``batch-timing-<machine>-<time>.json`` (rows: :data:`ROW_KEYS`), a CSV with the same rows and
a PNG with the lecture's two panels to ``bench/results`` (``--out``).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import timing

BATCH_SIZES = (1, 10, 100, 1000, 10000, 60000)
QUICK_BATCH_SIZES = (10, 100)
QUICK_SAMPLES = 1000
HIDDEN = (500, 500)
LR = 0.01
MOMENTUM = 0.9
BUDGET_S = 10.0
MIN_TIME_S = 0.5
MAX_EPOCH_REPEAT = 3
ROW_KEYS = ("line", "framework", "backend", "device", "model", "data", "samples", "optimizer", "threads",
            "batch_size", "updates_per_epoch", "update_median_s", "update_q1_s", "update_q3_s",
            "update_repeat", "update_warmup", "timer", "epoch_s", "epoch_source", "epoch_repeat",
            "bare_update_s")
CSV_KEYS = ROW_KEYS


# --------------------------------------------------------------------------- data

@dataclass
class TrainData:
    """Flat float32 images ``(N, 784)``, int64 labels, and where they came from."""

    x: np.ndarray
    y: np.ndarray
    source: str  # "fashion-mnist" or "synthetic"
    note: str = ""


def synthetic(samples: int, features: int = 784, classes: int = 10, seed: int = 0) -> TrainData:
    """MNIST-shaped stand-in data: ``samples`` vectors in [0, 1] scattered around 10 class prototypes."""
    rng = np.random.default_rng(seed)
    protos = rng.random((classes, features), dtype=np.float32)
    y = rng.integers(0, classes, size=samples, dtype=np.int64)
    x = protos[y] * np.float32(0.7) + rng.random((samples, features), dtype=np.float32) * np.float32(0.3)
    return TrainData(np.ascontiguousarray(x), y, "synthetic", "MNIST-shaped synthetic data (10 noisy prototypes)")


def load(samples: int, which: str = "auto", seed: int = 0) -> TrainData:
    """The first ``samples`` Fashion-MNIST training images (``which="fashion-mnist"``, or ``"auto"`` when
    installed), else :func:`synthetic` data; ``"auto"`` falls back and says why in ``note``."""
    if which not in ("auto", "fashion-mnist", "synthetic"):
        raise ValueError(f"unknown data {which!r}; expected auto, fashion-mnist or synthetic")
    if which != "synthetic":
        try:
            from tensorcore.data import FashionMNIST

            x, y = FashionMNIST(train=True).arrays(normalize=True, flatten=True)
            if samples > len(x):
                raise ValueError(f"asked for {samples} samples, Fashion-MNIST has {len(x)}")
            return TrainData(np.ascontiguousarray(x[:samples]), np.ascontiguousarray(y[:samples]),
                             "fashion-mnist", f"Fashion-MNIST training images (first {samples})")
        except Exception as exc:
            if which == "fashion-mnist":
                raise
            data = synthetic(samples, seed=seed)
            data.note = f"{data.note}; Fashion-MNIST unavailable: {type(exc).__name__}: {exc}"
            return data
    return synthetic(samples, seed=seed)


# --------------------------------------------------------------------------- lines

@dataclass
class Line:
    """One curve of the plot: a framework on a backend and device, and how to run it there.

    ``step(batch)`` returns a callable making one update on a fixed batch of that size;
    ``epoch(batch)`` one running a shuffled epoch (returning the number of updates);
    ``bare(batch)`` (tensorcore only) one running the kernel entries without the Python layer;
    ``sync`` waits for the device; ``context()`` is entered while the line is measured."""

    name: str
    framework: str
    backend: str
    device: str
    sync: Callable[[], None]
    step: Callable[[int], Callable[[], Any]]
    epoch: Callable[[int], Callable[[], int]]
    bare: Callable[[int], Callable[[], Any]] | None = None
    context: Callable[[], Any] = contextlib.nullcontext
    notes: list[str] = field(default_factory=list)


def _init_arrays(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """PyTorch's default ``nn.Linear`` initialisation drawn with NumPy: ``[w1 (out, in), b1, ...]``."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(n_in)
        out.append(rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32))
        out.append(rng.uniform(-bound, bound, size=n_out).astype(np.float32))
    return out


def tensorcore_line(backend: str, data: TrainData, sizes: Sequence[int], *, optimizer: str = "sgd",
                    lr: float = LR, momentum: float = MOMENTUM, seed: int = 0,
                    sync: Callable[[], None] | None = None) -> Line:
    """The line of tensorcore backend ``backend`` (on its device); ``sync`` overrides the device's
    synchronize hook (tests pass a recorder)."""
    import tensorcore as tc
    from tensorcore import nn, optim
    from tensorcore.models import MLP

    device = tc.backends.get(backend).device
    sync = timing.sync_hook(device) if sync is None else sync
    x_all = tc.from_numpy(data.x).to(device) if device != "cpu" else None
    y_all = tc.from_numpy(data.y).to(device) if device != "cpu" else None

    def model_and_opt() -> tuple[Any, Any]:
        tc.manual_seed(seed)
        model = MLP(list(sizes), activation="relu")
        model.load_state_dict({k: tc.from_numpy(a.copy()) for k, a in
                               zip(model.state_dict(), _init_arrays(sizes, seed))})
        model.to(device)
        opt = optim.Adam(model.parameters(), lr=lr) if optimizer == "adam" else \
            optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        return model, opt

    def batch(idx: np.ndarray) -> tuple[Any, Any]:
        if device == "cpu":  # the DataLoader's fast path: one fancy index per array
            return tc.from_numpy(np.ascontiguousarray(data.x[idx])), tc.from_numpy(data.y[idx])
        index = tc.from_numpy(idx).to(device)
        return x_all[index], y_all[index]

    def train_step(model: Any, opt: Any, xb: Any, yb: Any) -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    def step(bs: int) -> Callable[[], None]:
        model, opt = model_and_opt()
        xb, yb = batch(np.arange(min(bs, len(data.x))))
        return lambda: train_step(model, opt, xb, yb)

    def epoch(bs: int) -> Callable[[], int]:
        model, opt = model_and_opt()
        rng = np.random.default_rng(seed)
        n = len(data.x)

        def run() -> int:
            order = rng.permutation(n)
            updates = 0
            for start in range(0, n, bs):
                xb, yb = batch(order[start:start + bs])
                train_step(model, opt, xb, yb)
                updates += 1
            return updates

        return run

    def bare(bs: int) -> Callable[[], None]:
        return bare_step(tc.backends.get(backend), data, sizes, bs, lr, seed)

    return Line(f"tensorcore {backend} ({device})", "tensorcore", backend, device, sync, step, epoch, bare,
                context=lambda: tc.use_backend(backend))


def bare_step(B: Any, data: TrainData, sizes: Sequence[int], bs: int, lr: float, seed: int = 0) -> Callable[[], None]:
    """One plain-SGD update of the MLP by calling the backend ``B``'s kernel entries directly on arrays
    (weights stored ``(in, out)`` so no transpose is needed forward): the kernels' share of a step,
    with no ``Tensor``, autograd graph or optimizer object. Returns the step callable; its ``params``
    attribute holds the weight and bias lists it updates."""
    if B.device == "cpu":
        xp = np
    else:  # pragma: no cover - GPU only
        import cupy as xp
    params = _init_arrays(sizes, seed)
    ws = [xp.asarray(np.ascontiguousarray(w.T)) for w in params[0::2]]
    bs_ = [xp.asarray(b) for b in params[1::2]]
    x = xp.asarray(data.x[:bs])
    y = xp.asarray(data.y[:bs])
    scale = xp.full(len(y), 1.0 / len(y), dtype=np.float32)
    layers = len(ws)

    def step() -> None:
        acts, pre = [x], []
        h = x
        for i in range(layers):
            z = B.add(B.matmul(h, ws[i]), bs_[i])
            if i < layers - 1:
                pre.append(z)
                h = B.relu(z)
                acts.append(h)
            else:
                h = z
        _, logp = B.cross_entropy(h, y)
        g = B.cross_entropy_backward(logp, y, scale)
        for i in reversed(range(layers)):
            gw = B.matmul(xp.ascontiguousarray(acts[i].T), g)
            gb = B.sum(g, (0,), False)
            if i > 0:
                g = B.relu_backward(pre[i - 1], B.matmul(g, xp.ascontiguousarray(ws[i].T)))
            ws[i] -= np.float32(lr) * gw
            bs_[i] -= np.float32(lr) * gb

    step.params = (ws, bs_)  # type: ignore[attr-defined]  # weights (in, out) and biases, for tests
    return step


def torch_line(torch: Any, data: TrainData, sizes: Sequence[int], device: str = "cpu", *, optimizer: str = "sgd",
               lr: float = LR, momentum: float = MOMENTUM, seed: int = 0) -> Line:
    """PyTorch eager on ``device`` (``cpu`` or ``cuda``, TF32 off): the reference line."""
    if device == "cuda":  # pragma: no cover - GPU only
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        sync = torch.cuda.synchronize
    else:
        sync = timing.sync_hook("cpu")
    x_all = torch.from_numpy(data.x).to(device)
    y_all = torch.from_numpy(data.y).to(device)
    tnn = torch.nn

    def model_and_opt() -> tuple[Any, Any]:
        torch.manual_seed(seed)
        layers: list[Any] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(tnn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(tnn.ReLU())
        model = tnn.Sequential(*layers)
        with torch.no_grad():
            for p, a in zip(model.parameters(), _init_arrays(sizes, seed)):
                p.copy_(torch.from_numpy(a))
        model.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam" else \
            torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        return model, opt

    def train_step(model: Any, opt: Any, xb: Any, yb: Any) -> None:
        opt.zero_grad()
        tnn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()

    def step(bs: int) -> Callable[[], None]:
        model, opt = model_and_opt()
        xb, yb = x_all[:bs].contiguous(), y_all[:bs].contiguous()
        return lambda: train_step(model, opt, xb, yb)

    def epoch(bs: int) -> Callable[[], int]:
        model, opt = model_and_opt()
        gen = np.random.default_rng(seed)
        n = len(data.x)

        def run() -> int:
            order = torch.from_numpy(gen.permutation(n)).to(device)
            updates = 0
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                train_step(model, opt, x_all[idx], y_all[idx])
                updates += 1
            return updates

        return run

    return Line(f"PyTorch {torch.__version__.split('+')[0]} ({device})", "torch", "torch", device, sync, step, epoch)


def _real_gpu() -> bool:
    import tensorcore as tc
    from tensorcore.device import simulated

    return tc.cuda.is_available() and not simulated()


def build_lines(data: TrainData, sizes: Sequence[int], backends: Sequence[str] | None, torch: bool,
                optimizer: str, lr: float, momentum: float, threads: int) -> tuple[list[Line], list[str]]:
    """The lines to measure and notes about what was left out (no GPU, no PyTorch ...)."""
    import tensorcore as tc

    notes: list[str] = []
    avail = tc.backends.available()
    if backends is None:
        names = [n for n, a in avail.items() if a.available and (a.device == "cpu" or _real_gpu())]
        skipped = [f"{n} ({a.device}): {a.reason or 'simulated device, not timed'}" for n, a in avail.items()
                   if n not in names]
        if skipped:
            notes.append("not measured: " + "; ".join(skipped))
    else:
        names = list(backends)
        for n in names:
            if n not in avail:
                raise ValueError(f"unknown backend {n!r}; registered: {sorted(avail)}")
            if not avail[n].available:
                raise RuntimeError(f"backend {n!r} is not available here: {avail[n].reason}")
    kw = dict(optimizer=optimizer, lr=lr, momentum=momentum)
    lines = [tensorcore_line(n, data, sizes, **kw) for n in names]
    if torch:
        try:
            import torch as torch_mod
        except ImportError:
            notes.append("PyTorch is not installed: no reference line")
        else:
            torch_mod.set_num_threads(threads)
            lines.append(torch_line(torch_mod, data, sizes, "cpu", **kw))
            if torch_mod.cuda.is_available():  # pragma: no cover - GPU only
                lines.append(torch_line(torch_mod, data, sizes, "cuda", **kw))
    return lines, notes


# --------------------------------------------------------------------------- measuring

@dataclass
class Point:
    """One line at one batch size."""

    batch_size: int
    updates: int
    update: timing.Timing
    epoch_s: float
    epoch_source: str  # "measured" or "estimated"
    epoch_repeat: int
    bare_s: float | None = None


def measure_update(line: Line, bs: int, *, min_time: float = MIN_TIME_S, warmup: int | None = None) -> timing.Timing:
    """The time for one update at batch ``bs``: median of several after a warm-up, each run bracketed
    by ``line.sync``."""
    fn = line.step(bs)
    if warmup is None:
        warmup = 1 if bs >= 10_000 else 3
    return timing.measure(fn, device=line.device, warmup=warmup, min_time=min_time, min_repeat=3,
                          max_repeat=200, sync=line.sync)


def measure_epoch(line: Line, bs: int, repeat: int) -> tuple[float, int]:
    """Median wall time of ``repeat`` shuffled epochs at batch ``bs`` (synchronized), and the updates
    per epoch."""
    run = line.epoch(bs)
    times, updates = [], 0
    for _ in range(repeat):
        line.sync()
        start = time.perf_counter()
        updates = run()
        line.sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), updates


def measure_point(line: Line, bs: int, samples: int, *, budget_s: float = BUDGET_S, min_time: float = MIN_TIME_S,
                  bare: bool = False) -> Point:
    """Update time, and the epoch time measured if ``updates × update`` fits ``budget_s``, else estimated."""
    bs = min(bs, samples)
    updates = -(-samples // bs)
    upd = measure_update(line, bs, min_time=min_time)
    estimate = updates * upd.median
    if estimate <= budget_s:
        repeat = max(1, min(MAX_EPOCH_REPEAT, int(budget_s // max(estimate, 1e-9))))
        epoch_s, _ = measure_epoch(line, bs, repeat)
        point = Point(bs, updates, upd, epoch_s, "measured", repeat)
    else:
        point = Point(bs, updates, upd, estimate, "estimated", 0)
    if bare and line.bare is not None:
        point.bare_s = timing.measure(line.bare(bs), device=line.device, warmup=3, min_time=min_time,
                                      min_repeat=3, max_repeat=200, sync=line.sync).median
    return point


def row(line: Line, p: Point, model: str, data: TrainData, optimizer: str, threads: int) -> dict[str, Any]:
    """The JSON / CSV row of one point (keys :data:`ROW_KEYS`)."""
    t = p.update
    return {"line": line.name, "framework": line.framework, "backend": line.backend, "device": line.device,
            "model": model, "data": data.source, "samples": len(data.x), "optimizer": optimizer,
            "threads": threads, "batch_size": p.batch_size, "updates_per_epoch": p.updates,
            "update_median_s": t.median, "update_q1_s": t.q1, "update_q3_s": t.q3, "update_repeat": t.repeat,
            "update_warmup": t.warmup, "timer": t.timer, "epoch_s": p.epoch_s, "epoch_source": p.epoch_source,
            "epoch_repeat": p.epoch_repeat, "bare_update_s": p.bare_s}


def run(batch_sizes: Sequence[int], data: TrainData, *, sizes: Sequence[int] = (784, *HIDDEN, 10),
        backends: Sequence[str] | None = None, torch: bool = True, optimizer: str = "sgd", lr: float = LR,
        momentum: float = MOMENTUM, budget_s: float = BUDGET_S, min_time: float = MIN_TIME_S,
        threads: int | None = None, settle: float = 0.2,
        progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure every line at every batch size; returns the rows and notes."""
    from .kernels import cpu_threads

    threads = cpu_threads() if threads is None else threads
    lines, notes = build_lines(data, sizes, backends, torch, optimizer, lr, momentum, threads)
    model = f"mlp {'-'.join(map(str, sizes))} relu"
    rows = []
    for line in lines:
        with line.context():
            for bs in batch_sizes:
                if settle > 0:
                    time.sleep(settle)
                p = measure_point(line, bs, len(data.x), budget_s=budget_s, min_time=min_time,
                                  bare=bs == min(batch_sizes))
                rows.append(row(line, p, model, data, optimizer, threads))
                if progress is not None:
                    bare = f"   bare kernels {_fmt(p.bare_s)}" if p.bare_s is not None else ""
                    progress(f"{line.name:<28} batch {p.batch_size:>6}: update {_fmt(p.update.median):>10}   "
                             f"epoch {_fmt(p.epoch_s):>10} ({p.epoch_source}){bare}")
    return rows, notes


# --------------------------------------------------------------------------- output

def _fmt(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Update and epoch time per batch size, one block per line."""
    head = ("line", "batch", "updates/epoch", "update (median)", "spread", "epoch", "epoch is")
    cells = []
    for r in rows:
        spread = (r["update_q3_s"] - r["update_q1_s"]) / 2 / r["update_median_s"] if r["update_median_s"] else 0
        how = "measured" if r["epoch_source"] == "measured" else "estimated (updates x update)"
        if r["epoch_source"] == "measured":
            how += f", median of {r['epoch_repeat']}"
        cells.append((r["line"], str(r["batch_size"]), str(r["updates_per_epoch"]), _fmt(r["update_median_s"]),
                      f"±{100 * spread:.0f}%", _fmt(r["epoch_s"]), how))
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
    right = {1, 2, 3, 4, 5}

    def fmt(c: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths))).rstrip()

    out, prev = [fmt(head), "  ".join("-" * w for w in widths)], None
    for c in cells:
        if prev is not None and c[0] != prev:
            out.append("")
        out.append(fmt(c))
        prev = c[0]
    return "\n".join(out)


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): 1 = linear growth, 0 = flat."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0]) if len(xs) >= 2 else float("nan")


def findings(rows: Sequence[dict[str, Any]], gpu: dict[str, Any], cores: int) -> list[str]:
    """The lecture's two findings as measured here, and the batch-1 overhead against PyTorch."""
    by_line: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_line.setdefault(r["line"], []).append(r)
    out = []
    gpu_lines = [n for n, rs in by_line.items() if rs[0]["device"] == "cuda"]
    # 1. update time vs batch
    if not gpu_lines:
        out.append(f"1. Update time vs batch. The lecture's GPU finding (an update takes about the same time up "
                   f"to a batch of ~1000, thanks to parallel hardware) cannot be checked: no GPU was present "
                   f"({gpu.get('reason', 'not found')}). What this CPU ({cores} cores) shows instead:")
    else:
        out.append("1. Update time vs batch (the lecture: nearly flat on a GPU up to a batch of ~1000):")
    for name, rs in by_line.items():
        rs = sorted(rs, key=lambda r: r["batch_size"])
        t = {r["batch_size"]: r["update_median_s"] for r in rs}
        bmin, bmax = rs[0]["batch_size"], rs[-1]["batch_size"]
        text = f"   {name}: {_fmt(t[bmin])} at batch {bmin} -> {_fmt(t[bmax])} at batch {bmax}"
        if bmax > bmin:
            text += f" ({t[bmax] / t[bmin]:.3g}x the time for {bmax // bmin}x the data)"
        small = [b for b in t if b <= 1000]
        if len(small) >= 2:
            r1000 = t[max(small)] / t[min(small)]
            text += f"; batch {min(small)} -> {max(small)}: {r1000:.1f}x"
            text += " (nearly flat)" if r1000 < 2.5 else ""
        big = [b for b in t if b >= 1000]
        if len(big) >= 2:
            s = _slope(big, [t[b] for b in big])
            text += f"; growth from batch {min(big)} up ~ batch^{s:.2f}"
            text += " (about linear)" if 0.8 <= s <= 1.2 else ""
        out.append(text)
    # 2. epoch time vs batch
    out.append("2. Epoch time vs batch (the lecture: an epoch is much faster with large batches):")
    for name, rs in by_line.items():
        rs = sorted(rs, key=lambda r: r["batch_size"])
        best = min(rs, key=lambda r: r["epoch_s"])
        small = rs[0]
        out.append(f"   {name}: batch {small['batch_size']} {_fmt(small['epoch_s'])} ({small['epoch_source']}), "
                   f"fastest at batch {best['batch_size']} {_fmt(best['epoch_s'])} ({best['epoch_source']}): "
                   f"{small['epoch_s'] / best['epoch_s']:.0f}x faster")
    # 3. overhead at the smallest batch
    bmin = min(r["batch_size"] for r in rows)
    out.append(f"3. Step overhead at batch {bmin} (all overhead: the arithmetic is tiny):")
    for device in sorted({r["device"] for r in rows}):
        ref = [r for r in rows if r["framework"] == "torch" and r["device"] == device and r["batch_size"] == bmin]
        for r in rows:
            if r["framework"] != "tensorcore" or r["device"] != device or r["batch_size"] != bmin:
                continue
            text = f"   {r['line']}: {r['update_median_s'] * 1e6:.0f} us per update"
            if ref:
                ratio = r["update_median_s"] / ref[0]["update_median_s"]
                text += (f" vs {ref[0]['line']} {ref[0]['update_median_s'] * 1e6:.0f} us: {ratio:.2f}x"
                         + (" (tensorcore faster)" if ratio < 1 else ""))
            if r["bare_update_s"]:
                share = max(0.0, 1 - r["bare_update_s"] / r["update_median_s"])
                text += (f"; the same kernel entries called directly take {r['bare_update_s'] * 1e6:.0f} us, so "
                         f"Tensor/autograd/optimizer Python is ~{100 * share:.0f}% of the step")
            out.append(text)
    return out


# --------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``batch-timing`` subcommand's options."""
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_SAMPLES} samples, batch sizes {QUICK_BATCH_SIZES}, short timing (seconds)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, help=f"default {BATCH_SIZES}")
    p.add_argument("--samples", type=int, default=None, help="training images per epoch (default 60000)")
    p.add_argument("--data", choices=("auto", "fashion-mnist", "synthetic"), default="auto",
                   help="Fashion-MNIST when installed (auto), or MNIST-shaped synthetic data")
    p.add_argument("--hidden", default=",".join(map(str, HIDDEN)), help="hidden widths (default 500,500)")
    p.add_argument("--backend", action="append", default=None,
                   help="tensorcore backend (repeatable; default: every available one, GPU ones on a real GPU)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference line")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    p.add_argument("--lr", type=float, default=LR)
    p.add_argument("--momentum", type=float, default=MOMENTUM)
    p.add_argument("--budget-s", type=float, default=None,
                   help=f"measure an epoch when its estimate fits this many seconds, else estimate it "
                        f"(default {BUDGET_S:g}; quick 2)")
    p.add_argument("--min-time", type=float, default=None,
                   help=f"seconds of timed updates per point (default {MIN_TIME_S:g}; quick 0.02)")
    p.add_argument("--threads", type=int, default=None, help="threads for tensorcore's C++ kernels and PyTorch")
    p.add_argument("--settle", type=float, default=0.2, help="pause before each point (seconds)")
    p.add_argument("--out", default=None, help="folder for JSON, CSV and PNG (default bench/results)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


def main(args: argparse.Namespace) -> int:
    """The ``batch-timing`` subcommand."""
    from . import machine, report
    from .kernels import cpu_threads, set_cpu_threads

    start = time.perf_counter()
    if args.threads is not None:
        set_cpu_threads(args.threads)
    threads = args.threads or cpu_threads()
    batch_sizes = args.batch_sizes or (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES)
    samples = args.samples or (QUICK_SAMPLES if args.quick else 60000)
    budget = args.budget_s if args.budget_s is not None else (2.0 if args.quick else BUDGET_S)
    min_time = args.min_time if args.min_time is not None else (0.02 if args.quick else MIN_TIME_S)
    if min(batch_sizes) < 1 or samples < 1:
        raise SystemExit("batch-timing: batch sizes and --samples must be >= 1")
    desc = machine.describe()
    print("\n".join(machine.summary_lines(desc)), flush=True)
    data = load(samples, args.data)
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    sizes = (data.x.shape[1], *hidden, 10)
    print(f"\nbatch-timing: mlp {'-'.join(map(str, sizes))} ReLU, {args.optimizer} lr={args.lr:g}"
          f"{f' momentum={args.momentum:g}' if args.optimizer == 'sgd' else ''}; {samples} samples: {data.note}; "
          f"batch sizes {list(batch_sizes)}; {threads} threads; epoch measured when it fits {budget:g} s, "
          f"else estimated\n", flush=True)
    rows, notes = run(batch_sizes, data, sizes=sizes, backends=args.backend, torch=not args.no_torch,
                      optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, budget_s=budget,
                      min_time=min_time, threads=threads, settle=args.settle,
                      progress=lambda s: print("  " + s, flush=True))
    print()
    print(format_table(rows))
    print()
    for n in notes:
        print(n)
    summary = findings(rows, desc["gpu"], desc["cpu"]["usable_cores"])
    print("\n".join(summary))
    command = " ".join(["python -m bench"] + list(args.argv))
    path = report.write_json("batch-timing-quick" if args.quick else "batch-timing", desc, rows, args.out,
                             command=command, row_keys=ROW_KEYS)
    csv_path = report.write_csv(path.with_suffix(".csv"), rows, CSV_KEYS)
    print(f"\nresults written to {path}\n                   {csv_path}")
    if not args.no_plot:
        from . import plot

        png = plot.plot_batch_timing(plot.load(path), path.with_suffix(".png"))
        print(f"                   {png}")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 0


__all__ = ["BATCH_SIZES", "ROW_KEYS", "load", "synthetic", "tensorcore_line", "torch_line", "bare_step",
           "measure_update", "measure_epoch", "measure_point", "run", "findings", "format_table", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(print("run it as: python -m bench batch-timing") or 2)
