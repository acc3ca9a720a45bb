"""The benchmark harness: timing helpers, machine description, the JSON schema, and a tiny end-to-end run.

Benchmarks are not tests: nothing here checks speed, only that the harness measures what it says,
writes the schema it promises, and runs end to end in a few seconds.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench import kernels, machine, report, timing  # noqa: E402
from bench.__main__ import main as bench_main  # noqa: E402

import tensorcore as tc  # noqa: E402


# --------------------------------------------------------------------------- timing

def test_measure_calls_the_sync_hook_around_every_run():
    events = []
    t = timing.measure(lambda: events.append("run"), warmup=2, repeat=5, sync=lambda: events.append("sync"))
    assert t.repeat == 5 and t.warmup == 2 and t.timer == "perf_counter"
    assert events.count("run") == 7
    timed = events[events.index("sync"):]  # after the warm-up: sync, run, sync for each timed run
    assert timed[0] == "sync"
    runs = [i for i, e in enumerate(timed) if e == "run"]
    assert len(runs) == 5
    assert all(timed[i - 1] == "sync" and timed[i + 1] == "sync" for i in runs)


def test_measure_adapts_the_repeat_count_and_flushes():
    flushes = []
    t = timing.measure(lambda: None, warmup=0, min_time=0.002, min_repeat=3, max_repeat=50,
                       flush=lambda: flushes.append(1))
    assert 3 <= t.repeat <= 50
    assert len(flushes) == t.repeat
    with pytest.raises(ValueError):
        timing.measure(lambda: None, repeat=0)


def test_timing_summary_statistics():
    t = timing.Timing(times=(4.0, 1.0, 3.0, 2.0, 100.0), warmup=1, timer="perf_counter")
    assert t.median == 3.0 and t.min == 1.0 and t.max == 100.0
    assert t.q1 == pytest.approx(float(np.quantile(t.times, 0.25)))
    assert t.q3 == pytest.approx(float(np.quantile(t.times, 0.75)))
    assert t.iqr == pytest.approx(t.q3 - t.q1)
    s = t.summary()
    assert set(s) == {"median_s", "q1_s", "q3_s", "iqr_s", "min_s", "max_s", "repeat", "warmup", "timer"}


def test_sync_hooks_per_device():
    assert timing.sync_hook("cpu")() is None
    if not tc.cuda.is_available():
        assert timing.sync_hook("cuda")() is None  # no GPU: nothing to wait for
        assert timing.l2_flush("cuda")() is None
    with pytest.raises(ValueError, match="unknown device"):
        timing.sync_hook("tpu")


# --------------------------------------------------------------------------- machine

def test_machine_description():
    desc = machine.describe()
    assert set(desc) == {"cpu", "os", "python", "numpy", "torch", "tensorcore", "gpu", "env"}
    assert desc["cpu"]["usable_cores"] >= 1 and desc["cpu"]["model"]
    assert "version" in desc["numpy"] and "blas" in desc["numpy"]
    assert set(desc["tensorcore"]["backends"]) == set(tc.backends.available())
    for name, b in desc["tensorcore"]["backends"].items():
        assert b["available"] or b["reason"], name
    assert desc["gpu"]["found"] == (tc.cuda.is_available() and desc["gpu"].get("simulated") is None)
    if not desc["gpu"]["found"]:
        assert desc["gpu"]["reason"]
    for k in desc["env"]:
        assert k.startswith("OPENBLAS_") or k in machine.THREAD_ENV_VARS
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", machine.short_name(desc))
    text = "\n".join(machine.summary_lines(desc))
    assert "OpenBLAS env" in text and "GPU" in text
    json.dumps(desc)  # JSON-friendly


# --------------------------------------------------------------------------- schema

def test_row_schema_is_stable():
    # Changing these keys changes the result files' schema: bump report.SCHEMA and update this test.
    assert report.SCHEMA == 1
    assert report.TOP_KEYS == ("schema", "name", "created", "command", "machine", "results")
    assert report.ROW_KEYS == (
        "op", "source", "backend", "device", "shape", "dtype", "threads",
        "median_s", "q1_s", "q3_s", "iqr_s", "min_s", "max_s", "repeat", "warmup", "timer",
        "gflops", "gbps", "time_vs_numpy", "time_vs_torch", "variant", "max_abs_err")
    with pytest.raises(ValueError, match="missing"):
        report.check_row({"op": "matmul"})


def test_kernel_rows_match_the_schema_and_the_table_prints():
    rows = kernels.run(["matmul", "cross_entropy"], sizes=[16], ragged=False, shapes=[(5, 7)],
                       torch=False, min_time=0.001, settle=0)
    for row in rows:
        report.check_row(row)
        assert row["max_abs_err"] < 1e-3, row
    ref = [r for r in rows if r["source"] == "reference"]
    assert ref and all(r["time_vs_numpy"] == 1.0 for r in ref)
    numpy_rows = [r for r in rows if r["source"] == "kernel" and r["backend"] == "numpy"]
    assert numpy_rows and all(r["variant"] == "reference" for r in numpy_rows)
    assert any(r["source"] == "tensor" for r in rows)  # the Tensor @ row at the largest size
    table = report.format_table(rows)
    assert "matmul" in table and "cross_entropy" in table and "GFLOP/s" in table and "GB/s" in table


def test_unavailable_or_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend"):
        kernels.run(["matmul"], backends=["nope"], sizes=[8], ragged=False, torch=False, settle=0)
    with pytest.raises(ValueError, match="unknown op"):
        kernels.run(["fft"], torch=False, settle=0)


# --------------------------------------------------------------------------- end to end

def test_quick_kernel_run_writes_json(tmp_path, capsys):
    argv = ["kernels", "--quick", "--op", "matmul", "softmax", "--sizes", "32", "--no-ragged",
            "--shapes", "8x10", "--min-time", "0.002", "--settle", "0", "--out", str(tmp_path)]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    files = list(tmp_path.glob("kernels-quick-*.json"))
    assert len(files) == 1, files
    doc = json.loads(files[0].read_text())
    assert tuple(doc) == report.TOP_KEYS and doc["schema"] == report.SCHEMA
    assert doc["machine"]["cpu"]["model"]
    assert {r["op"] for r in doc["results"]} == {"matmul", "softmax"}
    for row in doc["results"]:
        assert tuple(row) == report.ROW_KEYS
    backends = {(r["source"], r["backend"]) for r in doc["results"]}
    assert ("reference", "numpy") in backends and ("kernel", "numpy") in backends
    if not tc.cuda.is_available():
        assert "GPU not found" in out
    assert str(files[0]) in out


def test_train_cli_runs_and_writes_json(tmp_path, capsys):
    from bench import train

    argv = ["mlp", "--dataset", "digits", "--epochs", "2", "--hidden", "32", "--lr", "1e-2",
            "--no-progress", "--out", str(tmp_path)]
    assert train.main(argv) == 0
    out = capsys.readouterr().out
    assert "test acc" in out
    (path,) = tmp_path.glob("train-mlp-digits-*.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == report.SCHEMA and len(doc["results"]) == 2
    assert all(tuple(r) == train.TRAIN_ROW_KEYS for r in doc["results"])
    assert doc["results"][-1]["test_acc"] > 0.5
