"""IDX reading, mirror downloads with MD5 checks, MNIST / Fashion-MNIST and Digits."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tensorcore.data.datasets import (MNIST, CorruptFileError, DatasetError, DatasetNotFoundError,
                                      Digits, DownloadError, FashionMNIST, download_file, md5sum,
                                      parse_idx, read_idx, write_idx)

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------ idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_roundtrip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"x-idx3{suffix}", arr)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


def test_idx_header_is_mnist_layout(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = write_idx(tmp_path / "img", images).read_bytes()
    assert int.from_bytes(raw[:4], "big") == 2051
    assert [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3)] == [2, 28, 28]
    labels = write_idx(tmp_path / "lab", np.array([3, 1], np.uint8)).read_bytes()
    assert int.from_bytes(labels[:4], "big") == 2049 and len(labels) == 10


def test_idx_gzip_detected_by_magic_without_suffix(tmp_path):
    arr = np.array([1, 2, 3], np.uint8)
    gz = tmp_path / "labels"
    gz.write_bytes(gzip.compress(write_idx(tmp_path / "plain", arr).read_bytes()))
    np.testing.assert_array_equal(read_idx(gz), arr)


def test_idx_big_endian_values(tmp_path):
    arr = np.array([-1, 70000, 2**31 - 1], np.int32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "v", arr)), arr)


def test_idx_truncated(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and "truncated" in msg
    assert str(16 + 4 * 784) in msg and str(16 + 4 * 784 - 100) in msg  # expected vs actual bytes


def test_idx_truncated_gz_payload(tmp_path):
    raw = write_idx(tmp_path / "p", np.zeros((4, 28, 28), np.uint8)).read_bytes()
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:1000]))  # valid gzip, short IDX payload
    with pytest.raises(CorruptFileError, match="truncated.*3152 bytes.*1000 bytes"):
        read_idx(path)


def test_idx_extra_bytes(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CorruptFileError, match="longer than its header"):
        read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x03", b"\x00\x00\x07\x03", b"\x00\x00\x08\x00",
                                  b"PK\x03\x04"])
def test_idx_bad_magic(tmp_path, head):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(head + bytes(64))
    with pytest.raises(CorruptFileError, match="bad IDX magic number") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_wrong_kind(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(CorruptFileError, match="1 dimensions, expected 3"):
        read_idx(path, expected_ndim=3)
    path = write_idx(tmp_path / "floats", np.zeros(5, np.float32))
    with pytest.raises(CorruptFileError, match="expected uint8"):
        read_idx(path, expected_dtype=np.uint8)


def test_idx_tiny_and_short_header():
    with pytest.raises(CorruptFileError, match="only 2 bytes"):
        parse_idx(b"\0\0", "f")
    with pytest.raises(CorruptFileError, match="truncated IDX header"):
        parse_idx(b"\0\0\x08\x03\0\0\0\x01", "f")


@pytest.mark.parametrize("kind", ["truncated", "garbage", "crc"])
def test_idx_corrupt_gzip(tmp_path, kind):
    good = gzip.compress(write_idx(tmp_path / "p", np.arange(5000, dtype=np.int32)).read_bytes())
    if kind == "truncated":
        data = good[: len(good) // 2]
    elif kind == "garbage":
        data = b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4
    else:
        data = good[:-8] + bytes(4) + good[-4:]  # wrong CRC32
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        read_idx(tmp_path / "nope.gz")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DatasetError)
    assert "nope.gz" in str(info.value)


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(TypeError, match="unsupported dtype"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


# ------------------------------------------------------------------------------------------ server


class _Handler(http.server.SimpleHTTPRequestHandler):
    log: list[str]

    def do_GET(self):  # noqa: N802 - http.server naming
        self.log.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields (base_url, www, log)."""
    www = tmp_path / "www"
    www.mkdir()
    log: list[str] = []
    handler = type("H", (_Handler,), {"log": log})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, log
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _put(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def test_download_first_mirror_404_second_used(server, tmp_path):
    base, www, log = server
    payload = b"hello mirrors" * 100
    _put(www / "m2", "f.bin", payload)
    out = download_file("f.bin", [f"{base}/m1/", f"{base}/m2"], tmp_path / "dl", _md5(payload),
                        progress=False)
    assert out == tmp_path / "dl" / "f.bin" and out.read_bytes() == payload
    assert log == ["/m1/f.bin", "/m2/f.bin"]
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["f.bin"]  # no temporary left over


def test_download_md5_mismatch_moves_on(server, tmp_path):
    base, www, log = server
    payload = b"the real file"
    _put(www / "bad", "f.bin", b"a tampered file")
    _put(www / "good", "f.bin", payload)
    out = download_file("f.bin", [f"{base}/bad", f"{base}/good"], tmp_path, _md5(payload),
                        progress=False)
    assert out.read_bytes() == payload
    assert log == ["/bad/f.bin", "/good/f.bin"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "www") == ["f.bin"]


def test_download_all_fail_lists_every_mirror(server, tmp_path):
    base, www, _ = server
    _put(www / "bad", "f.bin", b"wrong")
    mirrors = [f"{base}/missing", f"{base}/bad", "http://127.0.0.1:1/closed"]
    with pytest.raises(DownloadError) as info:
        download_file("f.bin", mirrors, tmp_path / "dl", "0" * 32, progress=False, timeout=5)
    msg = str(info.value)
    assert f"{base}/missing/f.bin: HTTP 404" in msg
    assert f"{base}/bad/f.bin: MD5 mismatch (expected {'0' * 32}, got {_md5(b'wrong')})" in msg
    assert "http://127.0.0.1:1/closed/f.bin:" in msg
    assert not (tmp_path / "dl" / "f.bin").exists()
    assert list((tmp_path / "dl").iterdir()) == []


def test_download_skips_present_file(server, tmp_path):
    base, www, log = server
    payload = b"x" * 10
    _put(www, "f.bin", payload)
    download_file("f.bin", [base], tmp_path / "dl", _md5(payload), progress=False)
    assert len(log) == 1
    download_file("f.bin", [base], tmp_path / "dl", _md5(payload), progress=False)
    assert len(log) == 1
    (tmp_path / "dl" / "f.bin").write_bytes(b"damaged")  # wrong MD5: fetched again
    download_file("f.bin", [base], tmp_path / "dl", _md5(payload), progress=False)
    assert len(log) == 2 and (tmp_path / "dl" / "f.bin").read_bytes() == payload


def test_md5sum(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    assert md5sum(tmp_path / "a") == "900150983cd24fb0d6963f7d28e17f72"


# ------------------------------------------------------------------------------------------ MNIST


def _make_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


@pytest.fixture
def idx_files(tmp_path):
    """Small MNIST-like splits as .gz files in tmp_path/"src"; returns (folder, arrays, resources)."""
    src = tmp_path / "src"
    src.mkdir()
    arrays, resources = {}, {}
    for prefix, n, seed in (("train", 12, 1), ("t10k", 5, 2)):
        images, labels = _make_split(n, seed)
        arrays[prefix] = (images, labels)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            gz = write_idx(src / f"{name}.gz", arr)
            resources[name] = (md5sum(gz), _md5(gzip.decompress(gz.read_bytes())))
    return src, arrays, resources


def _local_class(resources, mirrors, base=MNIST):
    return type("LocalMNIST", (base,), {"resources": resources, "mirrors": mirrors,
                                        "folder_name": "local-mnist"})


def test_mnist_download_then_load(server, tmp_path, idx_files):
    base, www, log = server
    src, arrays, resources = idx_files
    for f in src.iterdir():
        _put(www / "good", f.name, f.read_bytes())
    for f in src.iterdir():  # the first mirror serves damaged copies
        _put(www / "bad", f.name, f.read_bytes()[:-3] + b"xyz")
    cls = _local_class(resources, [f"{base}/nothing/", f"{base}/bad/", f"{base}/good/"])
    root = tmp_path / "data"
    ds = cls(root=root, train=True, download=True, progress=False)
    assert ds.root == root / "local-mnist"
    assert len(log) == 6  # two files, three mirrors each
    np.testing.assert_array_equal(ds.data, arrays["train"][0])
    np.testing.assert_array_equal(ds.targets, arrays["train"][1])
    assert ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64 and len(ds) == 12
    again = cls(root=root, train=True, download=True, progress=False)  # present: no re-download
    assert len(log) == 6 and len(again) == 12
    test = cls(root=root, train=False, download=True, progress=False)
    assert len(test) == 5 and len(log) == 12
    assert len(cls(root=root, train=False)) == 5  # no download needed any more


def test_mnist_finds_plain_and_gz_in_root(tmp_path, idx_files):
    src, arrays, resources = idx_files
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in src.iterdir():
        (plain / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
    cls = _local_class(resources, [])
    for root in (src, plain):
        ds = cls(root=root, train=False)
        np.testing.assert_array_equal(ds.data, arrays["t10k"][0])
    assert cls.verify_file(plain / "t10k-images-idx3-ubyte")  # MD5 of the content
    assert cls.verify_file(src / "t10k-images-idx3-ubyte.gz")  # MD5 of the .gz


def test_verify_accepts_recompressed_gz(tmp_path, idx_files):
    """Debian's Fashion-MNIST .gz files differ from the published ones; their content matches."""
    src, _, resources = idx_files
    name = "train-labels-idx1-ubyte"
    other = tmp_path / "other"
    other.mkdir()
    recompressed = gzip.compress(gzip.decompress((src / f"{name}.gz").read_bytes()), 1, mtime=1)
    (other / f"{name}.gz").write_bytes(recompressed)
    assert md5sum(other / f"{name}.gz") != resources[name][0]
    cls = _local_class(resources, [])
    assert cls.verify_file(other / f"{name}.gz")
    (other / f"{name}.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x01\x05"))
    assert not cls.verify_file(other / f"{name}.gz")


def test_mnist_missing_files_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(root=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "download=True" in msg
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        FashionMNIST(root=tmp_path, train=False)


def test_mnist_corrupt_file_error(tmp_path, idx_files):
    src, _, resources = idx_files
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(CorruptFileError, match="t10k-images-idx3-ubyte.gz: corrupt gzip"):
        _local_class(resources, [])(root=src, train=False)


def test_mnist_count_mismatch(tmp_path, idx_files):
    src, _, resources = idx_files
    write_idx(src / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(CorruptFileError, match="5 images but .* 4 labels"):
        _local_class(resources, [])(root=src, train=False)


def test_env_var_root(tmp_path, idx_files, monkeypatch):
    src, arrays, resources = idx_files
    monkeypatch.setenv("TENSORCORE_DATA", str(tmp_path))
    src.rename(tmp_path / "local-mnist")
    cls = _local_class(resources, [])
    assert cls.search_folders()[0] == tmp_path / "local-mnist"
    assert cls.download_folder() == tmp_path / "local-mnist"
    assert len(cls(train=True)) == 12


def test_fashion_search_order(monkeypatch, tmp_path):
    monkeypatch.delenv("TENSORCORE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert FashionMNIST.search_folders() == [DEBIAN_FASHION, tmp_path / "tensorcore" / "fashion-mnist"]
    assert MNIST.search_folders() == [tmp_path / "tensorcore" / "mnist"]
    assert FashionMNIST.download_folder() == tmp_path / "tensorcore" / "fashion-mnist"


def test_mnist_items_and_arrays(tmp_path, idx_files):
    tc = pytest.importorskip("tensorcore")
    src, arrays, resources = idx_files
    ds = _local_class(resources, [])(root=src, train=False)
    images, labels = arrays["t10k"]
    img, label = ds[3]
    assert isinstance(img, tc.Tensor) and tuple(img.shape) == (1, 28, 28)
    np.testing.assert_allclose(img.numpy()[0], images[3] / 255.0, rtol=1e-6)
    assert img.numpy().dtype == np.float32
    assert label == int(labels[3]) and isinstance(label, int)
    x, y = ds.arrays(flatten=True)
    assert x.shape == (5, 784) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    raw, _ = ds.arrays(normalize=False)
    assert raw.shape == (5, 1, 28, 28) and raw.dtype == np.uint8
    xb, yb = ds.get_batch(np.array([4, 0]))
    np.testing.assert_array_equal(xb.numpy(), x.reshape(5, 1, 28, 28)[[4, 0]])
    np.testing.assert_array_equal(yb.numpy(), labels[[4, 0]])
    from tensorcore.data import default_collate

    cx, cy = default_collate([ds[4], ds[0]])  # the fast path equals collating items
    np.testing.assert_array_equal(cx.numpy(), xb.numpy())
    np.testing.assert_array_equal(cy.numpy(), yb.numpy())
    td = ds.as_tensor_dataset(flatten=True)
    assert len(td) == 5 and tuple(td.tensors[0].shape) == (5, 784)

    ds2 = _local_class(resources, [])(root=src, train=False, transform=lambda a: a.shape,
                                      target_transform=lambda t: t + 100)
    assert ds2[0] == ((28, 28), int(labels[0]) + 100)
    assert not ds2.supports_get_batch() and ds.supports_get_batch()


# ------------------------------------------------------------------------------------------ real data


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                    reason="Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
def test_real_fashion_mnist():
    train = FashionMNIST(train=True)
    test = FashionMNIST(train=False)
    assert train.root == DEBIAN_FASHION
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert test.data.shape == (10000, 28, 28) and test.targets.shape == (10000,)
    assert train.targets.min() == 0 and train.targets.max() == 9
    np.testing.assert_array_equal(np.bincount(train.targets), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)
    assert train.targets[0] == 9 and train.classes[9] == "Ankle boot"
    # The published MD5s of the uncompressed files (Debian re-compressed the .gz files).
    labels = gzip.decompress((DEBIAN_FASHION / "train-labels-idx1-ubyte.gz").read_bytes())
    assert _md5(labels) == "9018921c3c673c538a1fc5bad174d6f9"
    assert FashionMNIST.verify_file(DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz")
    x, y = test.arrays(flatten=True)
    assert x.shape == (10000, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 1.0


# ------------------------------------------------------------------------------------------ digits


def test_digits_split():
    pytest.importorskip("sklearn")
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    assert train.data.shape == (len(train), 64) and train.data.dtype == np.float32
    assert train.targets.dtype == np.int64
    assert 0.0 <= train.data.min() and train.data.max() == 1.0
    assert not set(train.indices) & set(test.indices)
    assert abs(len(test) - 0.2 * 1797) <= 10
    assert set(np.unique(test.targets)) == set(range(10))
    again = Digits(train=False)
    np.testing.assert_array_equal(again.indices, test.indices)
    np.testing.assert_array_equal(again.data, test.data)
    other = Digits(train=False, seed=1)
    assert not np.array_equal(other.indices, test.indices)
    assert Digits(train=True, flatten=False).data.shape == (len(train), 1, 8, 8)
    with pytest.raises(ValueError, match="test_fraction"):
        Digits(test_fraction=1.0)


def test_digits_items():
    pytest.importorskip("sklearn")
    tc = pytest.importorskip("tensorcore")
    ds = Digits(train=False, test_fraction=0.1, seed=3)
    x, y = ds[0]
    assert isinstance(x, tc.Tensor) and tuple(x.shape) == (64,) and isinstance(y, int)
    xb, yb = ds.get_batch(np.arange(4))
    np.testing.assert_array_equal(xb.numpy(), ds.data[:4])
    np.testing.assert_array_equal(yb.numpy(), ds.targets[:4])
