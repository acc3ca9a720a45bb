"""Figures from the JSON results: ``python -m bench plot``.

    python -m bench plot                      # newest kernels / batch-timing / batch-accuracy results
    python -m bench plot --kernels bench/results/kernels-....json --out /tmp/figs

From a ``kernels`` result (:mod:`bench.kernels`):

* ``*-gflops.png``: matmul GFLOP/s against the square size, one line per backend and reference
  (and per device when a GPU was measured);
* ``*-ladder.png``: the matmul ladder as bars: every optimisation step of the C++ kernel
  (``naive`` → ``blocked`` → ``packed`` → ``packed_avx2`` → ``packed_avx512``, those the CPU runs) and,
  on a GPU, the Numba-CUDA rungs, next to NumPy and PyTorch at the same size;
* ``*-roofline.png``: a roofline per device from *measured* ceilings, the best GFLOP/s of the run and
  the bandwidth of a large array copy (device-to-device on a GPU), with every kernel entry placed at
  its arithmetic intensity (:func:`bench.kernels.work`).

From ``batch-timing`` and ``batch-accuracy`` results: the lecture's figures (the same functions the
experiments call when they finish). Figures go next to their JSON file unless ``--out`` says where.
Matplotlib runs with the non-interactive Agg backend.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .report import RESULTS_DIR

_COLORS = {"numpy": "tab:blue", "cpp": "tab:orange", "numba": "tab:green", "cupy": "tab:red",
           "torch": "black"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def load(path: str | Path) -> dict[str, Any]:
    """A result file as a dict."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def newest(prefix: str, folder: str | Path | None = None) -> Path | None:
    """The newest ``<prefix>-*.json`` in ``folder`` (default ``bench/results``), preferring full runs
    over ``-quick`` ones; None if there is none."""
    folder = Path(folder) if folder is not None else RESULTS_DIR
    files = [p for p in folder.glob(f"{prefix}-*.json")]
    full = [p for p in files if not p.name.startswith(f"{prefix}-quick")]
    pool = full or files
    return max(pool, key=lambda p: (p.stat().st_mtime, p.name)) if pool else None


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _machine_label(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    cpu = m.get("cpu", {})
    gpu = m.get("gpu", {})
    text = f"{cpu.get('model', '?')}, {cpu.get('usable_cores', '?')} cores"
    if gpu.get("found"):
        text += f"; {gpu.get('name', 'GPU')}"
    env = {k: v for k, v in m.get("env", {}).items() if k.startswith("OPENBLAS_")}
    if env:
        text += "; " + " ".join(f"{k}={v}" for k, v in env.items())
    return text


# --------------------------------------------------------------------------- batch timing

def plot_batch_timing(doc: dict[str, Any], path: str | Path) -> Path:
    """The lecture's two panels: time per update and time per epoch against the batch size (log x,
    log y), one line per framework, backend and device; hollow markers are estimated epochs."""
    plt = _plt()
    rows = doc["results"]
    fig, (ax_u, ax_e) = plt.subplots(1, 2, figsize=(12, 4.8))
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        lines.setdefault(r["line"], []).append(r)
    for name, rs in lines.items():
        rs = sorted(rs, key=lambda r: r["batch_size"])
        color = _COLORS.get(rs[0]["backend"], None)
        style = "-" if rs[0]["device"] == "cuda" else "--"
        bs = [r["batch_size"] for r in rs]
        ax_u.plot(bs, [r["update_median_s"] for r in rs], style, marker="o", color=color, label=name)
        ax_e.plot(bs, [r["epoch_s"] for r in rs], style, color=color, label=name)
        for r in rs:
            est = r["epoch_source"] != "measured"
            ax_e.plot([r["batch_size"]], [r["epoch_s"]], "o", color=color,
                      markerfacecolor="white" if est else color)
    first = rows[0] if rows else {}
    if rows:  # a guide: time proportional to the batch, through the slowest point at the largest batch
        bmax = max(r["batch_size"] for r in rows)
        tmax = max(r["update_median_s"] for r in rows if r["batch_size"] == bmax)
        bmin = min(r["batch_size"] for r in rows)
        ax_u.plot([bmin, bmax], [tmax * bmin / bmax, tmax], ":", color="gray", lw=1, label="proportional to batch")
    ax_u.set_title("Time for one update (forward + backward + step)")
    ax_e.set_title(f"Time for one epoch ({first.get('samples', '?')} samples)")
    for ax in (ax_u, ax_e):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(True, which="both", alpha=0.3)
    ax_u.set_ylabel("seconds (median)")
    ax_e.set_ylabel("seconds")
    ax_e.plot([], [], "o", color="gray", label="measured")
    ax_e.plot([], [], "o", color="gray", markerfacecolor="white", label="estimated (updates x update)")
    ax_u.legend(fontsize=8)
    ax_e.legend(fontsize=8)
    gpu = doc.get("machine", {}).get("gpu", {})
    note = "" if gpu.get("found") else "  (no GPU present: CPU lines only)"
    fig.suptitle(f"{first.get('model', 'mlp')} on {first.get('data', '?')}, {first.get('optimizer', '')}, "
                 f"{first.get('threads', '?')} threads{note}\n{_machine_label(doc)}", fontsize=9)
    fig.subplots_adjust(top=0.83, wspace=0.22)
    return _save(fig, Path(path))


# --------------------------------------------------------------------------- batch accuracy

def plot_batch_accuracy(doc: dict[str, Any], path: str | Path) -> Path:
    """Train / test accuracy against the batch size (log x) for the selected learning rate of each batch
    size, the other swept rates faint; right: the generalization gap (train - test)."""
    plt = _plt()
    rows = doc["results"]
    sel = sorted((r for r in rows if r["selected"]), key=lambda r: r["batch_size"])
    fig, (ax, ax_g) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    bs = [r["batch_size"] for r in sel]
    ax.plot(bs, [100 * r["train_acc"] for r in sel], "-o", color="tab:blue", label="train (selected lr)")
    ax.plot(bs, [100 * r["test_acc"] for r in sel], "-s", color="tab:red", label="test (selected lr)")
    ax.plot(bs, [100 * r["val_acc"] for r in sel], ":^", color="tab:gray", label="validation (selects lr)")
    # Runs that diverged or stayed at chance level (10 classes) are left out of the figure.
    other = [r for r in rows if not r["selected"] and not r["diverged"] and r["test_acc"] > 0.2]
    failed = [r for r in rows if r["diverged"] or r["test_acc"] <= 0.2]
    if failed:
        ax.text(0.01, 0.01, "not shown (diverged or chance level): "
                + ", ".join(f"batch {r['batch_size']} lr {r['lr']:g}" for r in failed),
                transform=ax.transAxes, fontsize=7, color="dimgray")
    if other:
        ax.plot([r["batch_size"] for r in other], [100 * r["test_acc"] for r in other], "x", color="tab:red",
                alpha=0.35, label="test, other swept lr")
    for r in sel:
        ax.annotate(f"lr {r['lr']:g}", (r["batch_size"], 100 * r["test_acc"]), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    first = sel[0] if sel else (rows[0] if rows else {})
    ax.set_title(f"{first.get('model', 'mlp')}, {first.get('epochs', '?')} epochs of "
                 f"{first.get('train_samples', '?')} {first.get('data', '')} images")
    gaps = [100 * (r["train_acc"] - r["test_acc"]) for r in sel]
    ax_g.bar([str(b) for b in bs], gaps, color="tab:purple")
    ax_g.set_xlabel("batch size")
    ax_g.set_ylabel("train - test accuracy (percentage points)")
    ax_g.set_title("generalization gap (selected lr)")
    ax_g.grid(True, axis="y", alpha=0.3)
    for i, r in enumerate(sel):
        ax_g.annotate(f"{r['updates']} updates", (i, gaps[i]), textcoords="offset points", xytext=(0, 3),
                      ha="center", fontsize=7)
    fig.suptitle(_machine_label(doc), fontsize=8)
    fig.subplots_adjust(top=0.88, wspace=0.22)
    return _save(fig, Path(path))


# --------------------------------------------------------------------------- kernels

def _label(r: dict[str, Any]) -> str:
    kind = {"kernel": "", "tensor": "Tensor@", "reference": "ref "}.get(r["source"], "")
    return f"{kind}{r['backend']} ({r['device']})"


def plot_gflops(doc: dict[str, Any], path: str | Path) -> Path | None:
    """Matmul GFLOP/s against the square size, one line per backend / reference and device."""
    rows = [r for r in doc["results"] if r["op"] == "matmul" and r["gflops"]
            and len(set(r["shape"])) == 1 and r["source"] in ("kernel", "reference")]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(_label(r), []).append(r)
    for label, rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["shape"][0])
        ref = rs[0]["source"] == "reference"
        ax.plot([r["shape"][0] for r in rs], [r["gflops"] for r in rs], ":" if ref else "-", marker="o",
                color=_COLORS.get(rs[0]["backend"]), label=label)
    ax.set_xscale("log", base=2)
    ticks = sorted({r["shape"][0] for r in rows})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("n (n x n @ n x n, float32)")
    ax.set_ylabel("GFLOP/s (median)")
    ax.set_title("matmul throughput per backend")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(_machine_label(doc), fontsize=8)
    return _save(fig, Path(path))


def plot_ladder(doc: dict[str, Any], path: str | Path) -> Path | None:
    """The matmul ladder as bars, one group per device at its own size: every rung, the backend's
    default ``matmul`` entry, and NumPy / PyTorch at the same shape (gray)."""
    results = doc["results"]
    ladder = [r for r in results if r["op"] == "matmul_ladder" and r["source"] == "kernel"]
    if not ladder:
        return None
    plt = _plt()
    bars: list[tuple[str, float, str]] = []
    shapes = []
    for device in sorted({r["device"] for r in ladder}):
        rungs = [r for r in ladder if r["device"] == device]
        shape = rungs[0]["shape"]
        shapes.append(f"{device} {'x'.join(map(str, shape))}")
        same = [r for r in results if r["shape"] == shape and r["op"] in ("matmul", "matmul_ladder")]
        bars += [(f"{r['backend']} {r['variant']}", r["gflops"], _COLORS.get(r["backend"], "gray")) for r in rungs]
        for r in same:
            if r["op"] == "matmul" and r["source"] == "kernel" and r["device"] == device \
                    and r["backend"] in {x["backend"] for x in rungs}:
                bars.append((f"{r['backend']} matmul entry", r["gflops"], _COLORS.get(r["backend"], "gray")))
        refs = {}
        for r in same:  # prefer the matmul op's reference rows; the ladder's own NumPy row otherwise
            if r["source"] == "reference" and (r["device"] == device or r["backend"] == "numpy"):
                key = (r["backend"], r["device"])
                if key not in refs or r["op"] == "matmul":
                    refs[key] = r
        for (backend, dev), r in sorted(refs.items()):
            name = "NumPy (BLAS)" if backend == "numpy" else "PyTorch" if backend == "torch" else backend
            bars.append((f"{name} ({dev})", r["gflops"], "lightgray"))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars)), 4.5))
    xs = range(len(bars))
    ax.bar(xs, [b[1] for b in bars], color=[b[2] for b in bars], edgecolor="black", linewidth=0.5)
    for x, b in zip(xs, bars):
        ax.annotate(f"{b[1]:.1f}", (x, b[1]), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([b[0] for b in bars], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("GFLOP/s (median)")
    ax.set_title(f"matmul ladder, float32 M x K x N: {'; '.join(shapes)} (gray: references)")
    ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(_machine_label(doc), fontsize=8)
    return _save(fig, Path(path))


def roofline_points(doc: dict[str, Any], device: str) -> tuple[float | None, float | None, list[dict[str, Any]]]:
    """(peak GFLOP/s, bandwidth GB/s, points) for ``device``: the peak is the best GFLOP/s measured in
    the run, the bandwidth the best ``copy`` row; each point has op, backend, intensity and gflops."""
    from .kernels import work

    rows = [r for r in doc["results"] if r["device"] == device]
    peak = max((r["gflops"] for r in rows if r["gflops"]), default=None)
    bw = max((r["gbps"] for r in rows if r["op"] == "copy" and r["gbps"]), default=None)
    points = []
    for r in rows:
        if r["source"] != "kernel" or r["op"] in ("copy", "matmul_ladder"):
            continue
        try:
            flops, nbytes = work(r["op"], r["shape"])
        except ValueError:
            continue
        if flops <= 0 or nbytes <= 0:
            continue
        points.append({"op": r["op"], "backend": r["backend"], "shape": r["shape"], "intensity": flops / nbytes,
                       "gflops": flops / r["median_s"] / 1e9})
    return peak, bw, points


def plot_roofline(doc: dict[str, Any], path: str | Path, device: str = "cpu") -> Path | None:
    """The roofline of ``device`` from the measured peak and copy bandwidth, with the kernel entries."""
    peak, bw, points = roofline_points(doc, device)
    if peak is None or bw is None:
        return None
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 6))
    ai = np.logspace(-2.5, 3, 200)
    ax.plot(ai, np.minimum(peak, bw * ai), "k-", lw=2,
            label=f"measured roof: {bw:.1f} GB/s large copy, {peak:.0f} GFLOP/s best kernel of the run")
    ax.axvline(peak / bw, color="gray", ls=":", lw=1)
    markers = {"numpy": "o", "cpp": "s", "numba": "^", "cupy": "D"}
    done = set()
    for p in points:
        label = p["backend"] if p["backend"] not in done else None
        done.add(p["backend"])
        ax.plot(p["intensity"], p["gflops"], markers.get(p["backend"], "o"), color=_COLORS.get(p["backend"]),
                alpha=0.8, label=label)
    best: dict[str, dict[str, Any]] = {}  # label each op once, at its fastest point
    for p in points:
        if p["op"] not in best or p["gflops"] > best[p["op"]]["gflops"]:
            best[p["op"]] = p
    for i, (op, p) in enumerate(sorted(best.items(), key=lambda kv: kv[1]["intensity"])):
        short = op.replace("_backward", " bwd").replace("cross_entropy", "xent").replace("_pool2d", "pool")
        ax.annotate(short, (p["intensity"], p["gflops"]), textcoords="offset points",
                    xytext=(5, 6 if i % 2 else -9), fontsize=7)
    ax.text(0.01, 0.99, "one label per op, at its fastest point;\npoints above the sloped roof run from cache",
            transform=ax.transAxes, va="top", fontsize=7, color="dimgray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of compulsory traffic)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"roofline, {device} (measured ceilings)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(_machine_label(doc), fontsize=8)
    return _save(fig, Path(path))


def plot_kernels(doc: dict[str, Any], stem: str | Path) -> list[Path]:
    """All kernel figures for one result, written as ``<stem>-gflops.png``, ``-ladder.png`` and
    ``-roofline-<device>.png``."""
    stem = Path(stem)
    out = [plot_gflops(doc, stem.with_name(stem.name + "-gflops.png")),
           plot_ladder(doc, stem.with_name(stem.name + "-ladder.png"))]
    for device in sorted({r["device"] for r in doc["results"]}):
        out.append(plot_roofline(doc, stem.with_name(f"{stem.name}-roofline-{device}.png"), device))
    return [p for p in out if p is not None]


# --------------------------------------------------------------------------- CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", default=None, help="kernels JSON (default: the newest in bench/results)")
    p.add_argument("--batch-timing", default=None, help="batch-timing JSON (default: the newest)")
    p.add_argument("--batch-accuracy", default=None, help="batch-accuracy JSON (default: the newest)")
    p.add_argument("--results", default=None, help="where to look for the newest files (default bench/results)")
    p.add_argument("--out", default=None, help="folder for the PNGs (default: next to each JSON)")


def main(args: argparse.Namespace) -> int:
    """The ``plot`` subcommand: figures for whichever results exist; 1 if there are none."""
    made: list[Path] = []
    found = False
    for kind, given in (("kernels", args.kernels), ("batch-timing", args.batch_timing),
                        ("batch-accuracy", args.batch_accuracy)):
        path = Path(given) if given else newest(kind, args.results)
        if path is None:
            print(f"{kind}: no result file found (run python -m bench {kind} first)")
            continue
        found = True
        doc = load(path)
        folder = Path(args.out) if args.out else path.parent
        stem = folder / path.stem
        if kind == "kernels":
            new = plot_kernels(doc, stem)
        elif kind == "batch-timing":
            new = [plot_batch_timing(doc, stem.with_suffix(".png"))]
        else:
            new = [plot_batch_accuracy(doc, stem.with_suffix(".png"))]
        print(f"{kind}: {path}")
        for p in new:
            print(f"  -> {p}")
        if kind == "kernels":
            for device in sorted({r["device"] for r in doc["results"]}):
                peak, bw, _ = roofline_points(doc, device)
                if peak is not None and bw is not None:
                    print(f"  roofline {device}: best measured {peak:.1f} GFLOP/s, copy bandwidth {bw:.1f} GB/s, "
                          f"ridge at {peak / bw:.1f} FLOP/byte")
                elif peak is not None:
                    print(f"  roofline {device}: no copy-bandwidth row (run kernels with --op copy)")
        made += new
    return 0 if found else 1


__all__ = ["plot_batch_timing", "plot_batch_accuracy", "plot_gflops", "plot_ladder", "plot_roofline",
           "plot_kernels", "roofline_points", "newest", "load", "main"]
