"""Benchmark output: a terminal table, and JSON files with a stable schema.

A result file is ``bench/results/<name>-<machine-short>-<timestamp>.json``::

    {"schema": 1,
     "name": "kernels",                  # what ran
     "created": "2025-01-31T12:00:00Z",  # UTC, ISO 8601
     "command": "python -m bench ...",
     "machine": {...},                   # bench.machine.describe()
     "results": [row, ...]}

Every row has exactly the keys in :data:`ROW_KEYS` (``None`` where a value does not apply):
``op``, ``source`` (``kernel`` = a backend entry called directly, ``tensor`` = through the
``Tensor`` API, ``reference`` = NumPy / PyTorch), ``backend``, ``device``, ``shape``, ``dtype``,
``threads``; the timing summary ``median_s``, ``q1_s``, ``q3_s``, ``iqr_s``, ``min_s``, ``max_s``,
``repeat``, ``warmup``, ``timer``; the throughput ``gflops`` or ``gbps``; ``time_vs_numpy`` /
``time_vs_torch`` (median time over the reference's median: 2.0 = twice as slow); ``variant``
(``handwritten`` / ``reference`` entries, or what a reference is); ``max_abs_err`` against NumPy.
Adding a key is a schema change: bump :data:`SCHEMA`. Training runs (:mod:`bench.train`) write the
same top level with their own row keys (``bench.train.TRAIN_ROW_KEYS``).
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

SCHEMA = 1
TOP_KEYS = ("schema", "name", "created", "command", "machine", "results")
ROW_KEYS = ("op", "source", "backend", "device", "shape", "dtype", "threads",
            "median_s", "q1_s", "q3_s", "iqr_s", "min_s", "max_s", "repeat", "warmup", "timer",
            "gflops", "gbps", "time_vs_numpy", "time_vs_torch", "variant", "max_abs_err")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_csv(path: Path, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> Path:
    """``rows`` as CSV with the columns ``keys``, in that order (the experiments' tables)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(keys))
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in keys})
    return path


def check_row(row: dict[str, Any], row_keys: Sequence[str] = ROW_KEYS) -> None:
    """Raise ``ValueError`` unless ``row`` has exactly the keys ``row_keys``."""
    keys = set(row)
    if keys != set(row_keys):
        raise ValueError(f"result row does not match schema {SCHEMA}: missing {sorted(set(row_keys) - keys)}, "
                         f"extra {sorted(keys - set(row_keys))}")


def document(name: str, machine: dict[str, Any], rows: Sequence[dict[str, Any]],
             command: str | None = None, row_keys: Sequence[str] = ROW_KEYS) -> dict[str, Any]:
    """The JSON document for ``rows`` (each checked against ``row_keys``)."""
    for row in rows:
        check_row(row, row_keys)
    return {"schema": SCHEMA, "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command if command is not None else " ".join(["python -m bench"] + sys.argv[1:]),
            "machine": machine, "results": [{k: row[k] for k in row_keys} for row in rows]}


def write_json(name: str, machine: dict[str, Any], rows: Sequence[dict[str, Any]],
               out_dir: str | Path | None = None, command: str | None = None,
               row_keys: Sequence[str] = ROW_KEYS) -> Path:
    """Write the result file ``<out_dir>/<name>-<machine-short>-<timestamp>.json`` and return its path
    (``out_dir`` defaults to ``bench/results``; ``row_keys`` are the rows' keys, the kernel rows'
    by default)."""
    from .machine import short_name

    out = Path(out_dir) if out_dir is not None else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out / f"{name}-{short_name(machine)}-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = out / f"{name}-{short_name(machine)}-{stamp}-{n}.json"
    doc = document(name, machine, rows, command, row_keys)
    path.write_text(json.dumps(doc, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    return path


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):  # NumPy scalars
        return x.item()
    if isinstance(x, (set, tuple)):
        return list(x)
    return str(x)


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} us"


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as an aligned text table, one block per op."""
    header = ("op", "backend", "shape", "median", "spread (IQR)", "throughput", "vs NumPy", "vs torch",
              "variant")
    lines: list[tuple[str, ...]] = []
    for row in rows:
        label = {"kernel": row["backend"], "tensor": f"Tensor@{row['backend']}",
                 "reference": f"ref {row['backend']}"}[row["source"]]
        tput = f"{row['gflops']:.1f} GFLOP/s" if row["gflops"] is not None else \
            f"{row['gbps']:.2f} GB/s" if row["gbps"] is not None else "-"
        spread = f"±{100 * row['iqr_s'] / 2 / row['median_s']:.1f}%" if row["median_s"] else "-"
        lines.append((row["op"], label, "x".join(map(str, row["shape"])), _fmt_time(row["median_s"]), spread,
                      tput, _fmt_ratio(row["time_vs_numpy"]), _fmt_ratio(row["time_vs_torch"]), row["variant"]))
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    right = {3, 4, 5, 6, 7}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    prev = None
    for line in lines:
        if prev is not None and line[0] != prev:
            out.append("")
        out.append(fmt(line).rstrip())
        prev = line[0]
    return "\n".join(out)


def print_report(machine_lines: Sequence[str], rows: Sequence[dict[str, Any]], path: Path | None = None) -> None:
    """Print the machine description, the table, how to read the ratios, and where the JSON went."""
    print("\n".join(machine_lines))
    print()
    print(format_table(rows))
    print()
    print("vs NumPy / vs torch: median time over the reference's median in the same run (2.00x = twice as slow).")
    if path is not None:
        print(f"results written to {path}")
