"""The course experiments and the figures: ``python -m bench batch-timing``, ``batch-accuracy`` and
``plot`` run end to end on tiny inputs, write the files they promise with a stable schema, and the
update timing waits for the device.

Benchmarks are not tests: nothing here checks speed.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench import batch_accuracy, batch_timing, kernels, plot, report  # noqa: E402
from bench.__main__ import main as bench_main  # noqa: E402

pytest.importorskip("matplotlib")


# --------------------------------------------------------------------------- schema

def test_batch_timing_row_schema_is_stable():
    # Changing these keys changes the result files' schema: bump report.SCHEMA and update this test.
    assert batch_timing.ROW_KEYS == (
        "line", "framework", "backend", "device", "model", "data", "samples", "optimizer", "threads",
        "batch_size", "updates_per_epoch", "update_median_s", "update_q1_s", "update_q3_s",
        "update_repeat", "update_warmup", "timer", "epoch_s", "epoch_source", "epoch_repeat",
        "bare_update_s")
    assert batch_timing.BATCH_SIZES == (1, 10, 100, 1000, 10000, 60000)


def test_batch_accuracy_row_schema_is_stable():
    assert batch_accuracy.ROW_KEYS == (
        "framework", "backend", "model", "data", "train_samples", "val_samples", "test_samples", "batch_size",
        "lr", "rule_lr", "momentum", "epochs", "updates", "seed", "threads", "train_loss", "train_acc",
        "val_acc", "test_acc", "diverged", "selected", "train_s")


# --------------------------------------------------------------------------- batch timing

def test_update_timing_calls_the_sync_hook_around_every_update():
    data = batch_timing.synthetic(64, features=20)
    events: list[str] = []
    line = batch_timing.tensorcore_line("numpy", data, (20, 8, 10), sync=lambda: events.append("sync"))
    step = line.step

    def counting_step(bs):
        fn = step(bs)

        def run():
            events.append("update")
            fn()

        return run

    line.step = counting_step
    t = batch_timing.measure_update(line, 16, min_time=0.0, warmup=1)
    updates = [i for i, e in enumerate(events) if e == "update"]
    assert len(updates) == t.repeat + 1 and t.repeat >= 3
    timed = updates[1:]  # after the warm-up each update sits between two syncs
    assert all(events[i - 1] == "sync" and events[i + 1] == "sync" for i in timed)
    events.clear()
    seconds, n_updates = batch_timing.measure_epoch(line, 16, repeat=2)
    assert n_updates == 4 and seconds > 0
    assert events.count("sync") == 4  # before and after each timed epoch


def test_epoch_is_estimated_beyond_the_budget_and_measured_within():
    data = batch_timing.synthetic(40, features=12)
    line = batch_timing.tensorcore_line("numpy", data, (12, 6, 10))
    within = batch_timing.measure_point(line, 20, len(data.x), budget_s=60, min_time=0.0)
    assert within.epoch_source == "measured" and within.updates == 2 and within.epoch_repeat >= 1
    beyond = batch_timing.measure_point(line, 1, len(data.x), budget_s=0.0, min_time=0.0, bare=True)
    assert beyond.epoch_source == "estimated" and beyond.epoch_repeat == 0
    assert beyond.epoch_s == pytest.approx(40 * beyond.update.median)
    assert beyond.bare_s is not None and beyond.bare_s > 0


def test_bare_step_matches_the_framework_step():
    """The bare kernel step is plain SGD on the same network: its first update equals tensorcore's."""
    import tensorcore as tc
    from tensorcore import nn, optim
    from tensorcore.models import MLP

    data = batch_timing.synthetic(8, features=6)
    sizes = (6, 5, 3)
    data.y %= 3
    init = batch_timing._init_arrays(sizes, 0)
    model = MLP(list(sizes))
    model.load_state_dict({k: tc.from_numpy(a.copy()) for k, a in zip(model.state_dict(), init)})
    opt = optim.SGD(model.parameters(), lr=0.1)
    nn.functional.cross_entropy(model(tc.from_numpy(data.x)), tc.from_numpy(data.y)).backward()
    opt.step()
    B = tc.backends.get("numpy")
    step = batch_timing.bare_step(B, data, sizes, 8, 0.1)
    step()
    ws, bs = step.params
    state = model.state_dict()
    np.testing.assert_allclose(ws[0].T, state["layers.1.weight"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bs[1], state["layers.3.bias"].numpy(), rtol=1e-5, atol=1e-6)


def test_batch_timing_cli_end_to_end(tmp_path, capsys):
    argv = ["batch-timing", "--quick", "--data", "synthetic", "--samples", "64", "--batch-sizes", "4", "32",
            "--hidden", "16", "--backend", "numpy", "--no-torch", "--min-time", "0.001", "--budget-s", "0.5",
            "--settle", "0", "--out", str(tmp_path)]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    (path,) = tmp_path.glob("batch-timing-quick-*.json")
    doc = json.loads(path.read_text())
    assert tuple(doc) == report.TOP_KEYS and doc["name"] == "batch-timing-quick"
    rows = doc["results"]
    assert [r["batch_size"] for r in rows] == [4, 32]
    assert all(tuple(r) == batch_timing.ROW_KEYS for r in rows)
    assert all(r["epoch_source"] in ("measured", "estimated") for r in rows)
    assert rows[0]["updates_per_epoch"] == 16 and rows[1]["updates_per_epoch"] == 2
    assert rows[0]["bare_update_s"] is not None and rows[1]["bare_update_s"] is None
    with open(path.with_suffix(".csv"), newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and tuple(table[0]) == batch_timing.CSV_KEYS
    assert path.with_suffix(".png").stat().st_size > 1000
    assert "synthetic" in out and "Update time vs batch" in out and "Epoch time vs batch" in out
    if not doc["machine"]["gpu"]["found"]:
        assert "no GPU was present" in out


# --------------------------------------------------------------------------- batch accuracy

def test_lr_sweep_follows_the_linear_scaling_rule_on_the_grid():
    assert batch_accuracy.rule_lr(128) == pytest.approx(0.05)
    assert batch_accuracy.sweep_lrs(128) == [0.01, 0.03, 0.1]
    assert batch_accuracy.sweep_lrs(32) == [0.003, 0.01, 0.03]
    assert batch_accuracy.sweep_lrs(8192) == [0.1, 0.3, 1.0]  # capped at the grid's top
    assert batch_accuracy.sweep_lrs(1024, points=1) == [0.3]


def test_batch_accuracy_cli_end_to_end(tmp_path, capsys):
    argv = ["batch-accuracy", "--quick", "--data", "synthetic", "--subset", "128", "--val", "64", "--test", "64",
            "--hidden", "16", "--batch-sizes", "8", "64", "--lrs", "0.05", "0.2", "--epochs", "2",
            "--out", str(tmp_path)]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    (path,) = tmp_path.glob("batch-accuracy-quick-*.json")
    doc = json.loads(path.read_text())
    rows = doc["results"]
    assert len(rows) == 4 and all(tuple(r) == batch_accuracy.ROW_KEYS for r in rows)
    for bs in (8, 64):
        group = [r for r in rows if r["batch_size"] == bs]
        assert sum(r["selected"] for r in group) == 1
        assert max(group, key=lambda r: r["val_acc"])["val_acc"] == next(r for r in group if r["selected"])["val_acc"]
    assert {r["updates"] for r in rows if r["batch_size"] == 8} == {32}
    assert all(0 <= r["test_acc"] <= 1 for r in rows)
    assert path.with_suffix(".csv").exists() and path.with_suffix(".png").stat().st_size > 1000
    assert "Lecture" in out and "Keskar" in out


# --------------------------------------------------------------------------- plot

def test_plot_cli_makes_every_figure(tmp_path, capsys):
    rows = kernels.run(["matmul", "matmul_ladder", "relu", "copy"], sizes=[16, 32], ragged=False, torch=False,
                       min_time=0.001, settle=0, ladder_size=32, copy_floats=1 << 12)
    for row in rows:
        report.check_row(row)
    assert any(r["op"] == "matmul_ladder" for r in rows) == ("cpp" in {r["backend"] for r in rows})
    path = report.write_json("kernels", {"cpu": {"model": "test cpu", "usable_cores": 2}, "gpu": {}}, rows,
                             tmp_path, command="test")
    assert bench_main(["plot", "--kernels", str(path), "--results", str(tmp_path), "--out",
                       str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    figs = {p.name for p in (tmp_path / "figs").glob("*.png")}
    assert any(n.endswith("-gflops.png") for n in figs) and any(n.endswith("-roofline-cpu.png") for n in figs)
    assert "roofline cpu" in out and "batch-timing: no result file" in out
    peak, bw, points = plot.roofline_points(json.loads(path.read_text()), "cpu")
    assert peak > 0 and bw > 0 and {p["op"] for p in points} >= {"matmul", "relu", "relu_backward"}


def test_every_course_op_runs_on_every_backend_and_matches_the_reference():
    ops = ["conv2d", "max_pool2d", "avg_pool2d", "lstm_cell", "relu", "add", "sum"]
    entries = {e for op in ops for e in kernels.OP_ENTRIES[op]}
    from tensorcore.backends.reference import CONTRACT

    assert entries <= set(CONTRACT)
    cases = [c for op in ops for c in kernels.course_cases(op)]
    assert {c.op for c in cases} == entries
    for c in cases:
        flops, nbytes = kernels.work(c.op, c.shape)
        assert flops > 0 and nbytes > 0


def test_kernel_rows_for_a_course_op_with_the_torch_reference():
    pytest.importorskip("torch")
    rows = kernels.run(["max_pool2d", "relu"], torch=True, min_time=0.001, settle=0)
    for row in rows:
        report.check_row(row)
        assert row["max_abs_err"] is None or row["max_abs_err"] < 1e-4, row
    assert {r["op"] for r in rows} == {"max_pool2d", "max_pool2d_backward", "relu", "relu_backward"}
    assert {(r["source"], r["backend"]) for r in rows} >= {("reference", "numpy"), ("reference", "torch"),
                                                          ("kernel", "numpy")}
