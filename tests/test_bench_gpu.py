"""The GPU report (``python -m bench gpu``), run end to end on the CPU.

The report's code path is the same on both devices; ``--device cpu`` swaps CuPy arrays, CUDA events,
cuBLAS and the device-to-device copy for NumPy arrays, ``perf_counter``, ``numpy.matmul`` and
``numpy.copyto``. These tests run it at tiny sizes and check the JSON it writes, its ratios and its
markdown tables; on the GPU path they check only what runs without a GPU (imports, the command
line, the refusals). Nothing here checks speed.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench import gpu, kernels  # noqa: E402
from bench.__main__ import main as bench_main  # noqa: E402

import tensorcore as tc  # noqa: E402

FAST = ["--min-time", "0.001", "--max-repeat", "4", "--settle", "0"]
MEMORY_BOUND = ("softmax", "cross_entropy", "pooling")
needs_cpp = pytest.mark.skipif(not tc.backends.available()["cpp"], reason="the C++ extension is not built")


def _real_gpu() -> bool:
    from tensorcore.device import simulated

    return tc.cuda.is_available() and not simulated()


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _tiny(**changes) -> gpu.Plan:
    return dataclasses.replace(gpu.PLANS["tiny"], **changes)


def _run(backend: str, plan: gpu.Plan, use_torch: bool = False, **kw) -> dict:
    return gpu.run(backend, gpu.make_device("cpu", use_torch=use_torch), plan, min_time=0.001, max_repeat=3,
                   settle=0, machine={"cpu": {"model": "test cpu", "usable_cores": 1}, "gpu": {"found": False}},
                   command="test", **kw)


@needs_cpp
def test_cpu_report_end_to_end(tmp_path, capsys):
    argv = ["gpu", "--device", "cpu", "--backend", "cpp", "--tiny", *FAST, "--out", str(tmp_path)]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    files = sorted(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".json", ".md"] and files[0].stem == files[1].stem
    assert files[0].name.startswith("gpu-cpp-")
    doc = json.loads(files[0].read_text())
    assert tuple(doc) == gpu.TOP_KEYS and doc["schema"] == gpu.SCHEMA
    assert doc["kind"] == "gpu-cpp" and doc["backend"] == "cpp" and doc["device"] == "cpu"
    assert doc["tf32"] is False and doc["errors"] == [] and doc["skipped"] == []
    assert doc["machine"]["cpu"]["model"] and doc["command"].startswith("python -m bench gpu")
    torch = _has_torch()
    assert (doc["torch"] is not None) == torch
    rows = doc["results"]
    for row in rows:
        assert tuple(row) == gpu.ROW_KEYS
        assert row["median_s"] > 0 and 1 <= row["repeat"] <= 4 and row["timer"] == "perf_counter"
        assert (row["gflops"] is None) != (row["gbps"] is None), row
        if row["max_rel_err"] is not None:
            assert row["max_rel_err"] < 1e-4, row
    assert {r["section"] for r in rows} == set(gpu.SECTIONS)

    # matmul: one numpy.matmul reference per size, every C++ rung against it, the default marked once
    table = tc.backends.get("cpp").table()
    rungs = kernels.ladder_variants("cpu")
    for n in gpu.PLANS["tiny"].sizes:
        at = [r for r in rows if r["section"] == "matmul" and r["shape"] == [n, n, n]]
        (ref,) = [r for r in at if r["source"] == "reference"]
        assert ref["impl"] == "numpy.matmul" and ref["ratio"] == 1.0
        assert [r["impl"] for r in at if r["source"] == "variant"] == rungs
        assert [r["impl"] for r in at if "default" in r["note"]] == [rungs[-1]]
        for r in at:
            assert r["reference"] == "numpy.matmul"
            assert r["ratio"] == pytest.approx(r["median_s"] / ref["median_s"])
            assert r["gflops"] == pytest.approx(2 * n ** 3 / r["median_s"] / 1e9)

    # memory-bound sections: against a copy of the same bytes, measured in the same section
    for section in MEMORY_BOUND:
        at = [r for r in rows if r["section"] == section]
        copies = [r for r in at if r["kernel"] == "copy"]
        assert copies and all(r["impl"] == "numpy.copyto" and r["ratio"] == 1.0 for r in copies)
        for r in at:
            assert r["gbps"] is not None and r["reference"] == "numpy.copyto"
            if r["kernel"] != "copy":
                assert any(r["ratio"] == pytest.approx(r["median_s"] / c["median_s"]) for c in copies)
    pool = {r["kernel"] for r in rows if r["section"] == "pooling"}
    assert pool == {"copy", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"}

    # contract entries record what the backend table says about them
    for r in rows:
        if r["source"] == "kernel":
            assert r["impl"] == "cpp" and r["entry"] in table
            if r["kernel"] != "cross_entropy":
                assert r["table"] == table[r["entry"]]
        else:
            assert r["entry"] is None and r["table"] is None
    assert {r["kernel"] for r in rows if r["section"] == "conv2d"} == {
        "conv2d", "conv2d_backward_data", "conv2d_backward_weight"}

    # compute-bound sections: against PyTorch when it is installed, without a reference otherwise
    for section in ("conv2d", "lstm_cell"):
        at = [r for r in rows if r["section"] == section]
        ours = [r for r in at if r["source"] == "kernel"]
        assert ours and all(r["gflops"] is not None for r in at)
        if torch:
            for r in ours:
                (ref,) = [t for t in at if t["source"] == "reference" and t["kernel"] == r["kernel"]
                          and t["shape"] == r["shape"] and t["params"] == r["params"]]
                assert ref["impl"].startswith("PyTorch") and r["reference"] == ref["impl"]
                assert r["ratio"] == pytest.approx(r["median_s"] / ref["median_s"])
        else:
            assert all(r["reference"] is None and r["ratio"] is None for r in ours)

    # the markdown: printed at the end and saved next to the JSON, one table per section
    md = files[1].read_text()
    assert md in out and str(files[0]) in out
    assert md.count("| kernel | shape | impl |") == len(gpu.SECTIONS)
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| kernel |")]
    assert len(table_rows) == len(rows)
    assert all(line.count("|") == len(gpu.HEADER) + 1 for line in table_rows)
    assert "| matmul | 16x16x16 | numpy.matmul | - |" in md and "GFLOP/s" in md and "GB/s" in md
    assert f"| max_pool2d | 2x3x9x9 k3 s2 p1 | cpp | max_pool2d ({table['max_pool2d']}) |" in md


def test_numpy_backend_has_no_ladder_and_runs_without_torch():
    doc = _run("numpy", _tiny(sizes=(8,), softmax=((4, 6),), pool=(((1, 2, 4, 4), 2, 2, 0),),
                              conv=((1, 2, 5, 5, 3, 3, 1, 0),)))
    assert doc["torch"] is None and doc["errors"] == []
    matmul = [r for r in doc["results"] if r["section"] == "matmul"]
    assert [(r["source"], r["impl"]) for r in matmul] == [("reference", "numpy.matmul"), ("kernel", "numpy")]
    assert matmul[1]["entry"] == "matmul" and matmul[1]["table"] == "reference"
    for r in doc["results"]:
        if r["section"] in ("conv2d", "lstm_cell"):
            assert r["source"] == "kernel" and r["reference"] is None and r["ratio"] is None
        assert r["source"] != "library"
    assert "no PyTorch" in gpu.format_markdown(doc)
    json.dumps(doc)


@needs_cpp
def test_slow_rungs_are_skipped_and_listed():
    doc = _run("cpp", _tiny(sizes=(8, 16)), max_call_s=1e-12)
    at16 = [r for r in doc["results"] if r["section"] == "matmul" and r["shape"] == [16, 16, 16]]
    assert [r["source"] for r in at16] == ["reference"]
    skipped = [s for s in doc["skipped"] if s["section"] == "matmul"]
    assert [s["impl"] for s in skipped] == kernels.ladder_variants("cpu")
    assert all(s["shape"] == [16, 16, 16] and "--max-call-s" in s["reason"] for s in skipped)
    md = gpu.format_markdown(doc)
    assert "Skipped:" in md and "matmul naive at 16x16x16" in md


@needs_cpp
def test_a_failing_kernel_is_recorded_and_the_run_goes_on(monkeypatch, tmp_path, capsys):
    def broken(*args):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(tc.backends.get("cpp"), "lstm_cell", broken)
    doc = _run("cpp", _tiny(sizes=(8,)))
    assert [(e["kernel"], e["impl"]) for e in doc["errors"]] == [("lstm_cell", "(setup)")]
    assert "kernel exploded" in doc["errors"][0]["error"]
    assert {r["section"] for r in doc["results"]} == set(gpu.SECTIONS) - {"lstm_cell"}
    assert "FAILED (1):" in gpu.format_markdown(doc)
    assert bench_main(["gpu", "--device", "cpu", "--backend", "cpp", "--tiny", "--sizes", "8", "--no-torch",
                       "--no-json", *FAST]) == 1
    assert "kernel exploded" in capsys.readouterr().out


@needs_cpp
def test_a_time_limit_keeps_what_was_measured(monkeypatch):
    """``timeout`` sends SIGTERM; the report stops where it is and keeps the rows it has."""
    def out_of_time(*args):
        raise gpu.Interrupted("stopped by signal 15 (a time limit)")

    monkeypatch.setattr(tc.backends.get("cpp"), "max_pool2d", out_of_time)
    doc = _run("cpp", _tiny(sizes=(8,)))
    assert doc["interrupted"].startswith("stopped by signal 15 (a time limit) after ")
    assert {r["section"] for r in doc["results"]} == {"matmul", "softmax", "cross_entropy"}
    assert "INTERRUPTED: stopped by signal 15" in gpu.format_markdown(doc)


def test_rel_err():
    import numpy as np

    device = gpu.make_device("cpu", use_torch=False)
    want = np.array([[1.0, -4.0]], dtype=np.float32)
    assert gpu.rel_err(device, want + np.float32(0.5), want) == pytest.approx(0.125)
    assert gpu.rel_err(device, (None, want), (want, None)) == 0.0
    assert gpu.rel_err(device, want, 0 * want) == 4.0  # all-zero reference: the absolute difference
    with pytest.raises(ValueError, match="shape"):
        gpu.rel_err(device, want.T, want)


def test_torch_calls_on_another_stream_are_bracketed_by_synchronizes():
    import types

    import numpy as np

    events = []
    torch = types.SimpleNamespace(cuda=types.SimpleNamespace(synchronize=lambda: events.append("sync")))
    device = gpu.Device("cuda", np, torch, "fake", None, "cuBLAS", "copy", torch_sync=True)
    assert device.torch_fn(lambda: events.append("run") or 7)() == 7
    assert events == ["sync", "run", "sync"]
    plain = gpu.Device("cuda", np, torch, "fake", None, "cuBLAS", "copy")
    fn = object()
    assert plain.torch_fn(fn) is fn


def test_gpu_path_imports_and_its_command_line_parses(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        bench_main(["gpu", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--backend" in text and "--device" in text and "--max-call-s" in text
    with pytest.raises(SystemExit):
        bench_main(["gpu"])  # --backend is required
    capsys.readouterr()

    from tensorcore.backends import cupy as cupy_glue

    lad = gpu.ladder("cupy")
    assert lad.names == tuple(cupy_glue.SGEMM) and lad.default == cupy_glue.SGEMM_DEFAULT
    assert "tf32_mma" in lad.notes
    assert gpu.softmax_variants("cupy", 4000)[1] and not gpu.softmax_variants("cupy", 128)[1]
    assert gpu.ladder("numpy") is None
    assert gpu.PLANS["cuda"].sizes == (1024, 2048, 4096)

    assert bench_main(["gpu", "--device", "cpu", "--backend", "numba"]) == 2
    assert "does not run on cpu" in capsys.readouterr().err
    monkeypatch.setenv("CUPY_TF32", "1")
    with pytest.raises(RuntimeError, match="CUPY_TF32"):
        gpu.make_device("cuda")
    monkeypatch.delenv("CUPY_TF32")
    if not _real_gpu():
        assert bench_main(["gpu", "--backend", "cupy"]) == 2
        assert "--device cpu" in capsys.readouterr().err


def test_numba_ladder_names():
    pytest.importorskip("numba", reason="numba is not installed")
    from tensorcore.kernels.numba import matmul

    lad = gpu.ladder("numba")
    assert lad.names == tuple(matmul.VARIANTS) and lad.default == matmul.DEFAULT
