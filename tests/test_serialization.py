"""tc.save / tc.load: round trips, atomic writes, and clear errors for bad files."""
import io
import os
import pathlib

import numpy as np
import pytest

import tensorcore as tc
from tensorcore import nn, optim, serialization


def trained(steps=3):
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    x, y = tc.randn(8, 4), tc.randint(0, 2, (8,))
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt, x, y


def test_round_trip_model_and_optimizer(tmp_path):
    model, opt, x, y = trained()
    path = tmp_path / "ckpt.npz"
    tc.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3, "note": "ok",
             "history": [0.5, 0.25], "shape": (2, 3), "nothing": None}, path)
    loaded = tc.load(path)
    assert loaded["epoch"] == 3 and loaded["note"] == "ok" and loaded["history"] == [0.5, 0.25]
    assert loaded["shape"] == (2, 3) and loaded["nothing"] is None
    assert list(loaded["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded["model"][k].dtype is v.dtype
        np.testing.assert_array_equal(loaded["model"][k].numpy(), v.numpy())
    assert sorted(loaded["optim"]["state"]) == [0, 1, 2, 3]  # int keys survive
    assert loaded["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)

    tc.manual_seed(1)
    model2 = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optim"])
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_tensors_keep_dtype_and_requires_grad(tmp_path):
    obj = {"f64": tc.arange(5, dtype=tc.float64), "i": tc.arange(3), "b": tc.tensor([True, False]),
           "w": tc.ones(2, requires_grad=True), "arr": np.arange(4, dtype=np.int32), "scalar": tc.tensor(2.5)}
    path = str(tmp_path / "t.npz")
    tc.save(obj, path)
    out = tc.load(path, map_location="cpu")
    assert out["f64"].dtype is tc.float64 and out["i"].dtype is tc.int64 and out["b"].dtype is tc.bool
    assert out["w"].requires_grad and not out["f64"].requires_grad
    assert isinstance(out["arr"], np.ndarray) and out["arr"].dtype == np.int32
    assert out["scalar"].shape == () and out["scalar"].item() == 2.5


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    tc.save({"a": tc.ones(3)}, buf)
    buf.seek(0)
    assert tc.load(buf)["a"].numpy().tolist() == [1.0, 1.0, 1.0]


def test_crash_mid_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    tc.save({"w": tc.ones(1000)}, path)
    before = path.read_bytes()

    def broken_writer(f, arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_archive", broken_writer)
    with pytest.raises(OSError, match="disk full"):
        tc.save({"w": tc.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    assert tc.load(path)["w"].numpy().sum() == 1000


def test_interrupt_mid_save_leaves_no_temp_file(tmp_path, monkeypatch):
    def interrupted(f, arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tc.save({"w": tc.ones(2)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        tc.load(missing)
    tc.save({"w": tc.ones(100)}, tmp_path / "ok.npz")
    for name, content in [("garbage.npz", b"this is not a checkpoint"),
                          ("truncated.npz", (tmp_path / "ok.npz").read_bytes()[:60]),
                          ("empty.npz", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(RuntimeError, match=f"{name}.*not a valid tensorcore checkpoint"):
            tc.load(path)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(3))
    with pytest.raises(RuntimeError, match="plain.npz"):
        tc.load(plain)


def test_refuses_pickled_content_and_unsupported_objects(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __structure__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(RuntimeError, match="pickled.npz"):
        tc.load(pickled)
    with pytest.raises(TypeError, match="cannot save an object of type Linear"):
        tc.save(nn.Linear(2, 2), tmp_path / "module.npz")
    with pytest.raises(TypeError, match="dict keys"):
        tc.save({(1, 2): tc.ones(1)}, tmp_path / "keys.npz")
    assert sorted(os.listdir(tmp_path)) == ["pickled.npz"]


def test_path_types(tmp_path):
    tc.save({"x": 1}, pathlib.Path(tmp_path) / "p.npz")
    assert tc.load(os.fspath(tmp_path / "p.npz")) == {"x": 1}
