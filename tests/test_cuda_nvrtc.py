"""The CUDA C kernels of the ``cupy`` backend compile, and its glue's pure-Python parts are right.

No GPU needed. Every ``kernels/cuda/*.cu`` file is compiled by NVRTC -- the compiler CuPy uses at run
time -- through ``cuda.bindings.nvrtc``, for ``compute_90`` (PTX) and, where NVRTC supports it,
``sm_90`` (a cubin, so ptxas checks register and shared-memory limits too), with exactly the name
expressions (template configurations) and options the glue launches
(``tensorcore.backends.cupy.NAME_EXPRESSIONS`` / ``NVRTC_OPTIONS``). A syntax or type error fails
here, with NVRTC's log in the message. The launch arithmetic and variant rules are tested directly.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tensorcore.backends import cupy as glue
from tensorcore.backends import pool_geometry

ARCH = 90


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        pytest.skip(f"cuda.bindings (NVRTC's Python bindings) is not installed ({exc}); "
                    "install numba-cuda[cu13] or cuda-bindings with nvidia-cuda-nvrtc")
    try:
        err, *_ = nvrtc.nvrtcVersion()
    except Exception as exc:  # the bindings are there but libnvrtc is not
        pytest.skip(f"NVRTC cannot be loaded ({type(exc).__name__}: {exc}); install nvidia-cuda-nvrtc")
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        pytest.skip(f"NVRTC cannot be loaded ({err})")
    return nvrtc


def _check(nvrtc, result, what: str) -> None:
    err = result[0] if isinstance(result, tuple) else result
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, f"{what}: {err}"


def _compile(filename: str, target: str) -> tuple[str | bytes, dict[str, str], str]:
    """Compile ``filename`` with every configuration the glue uses; returns (PTX text or cubin bytes,
    name expression -> lowered name, log)."""
    nvrtc = _nvrtc()
    exprs = glue.NAME_EXPRESSIONS[filename]
    err, prog = nvrtc.nvrtcCreateProgram(glue.source(filename).encode(), filename.encode(), 0, [], [])
    _check(nvrtc, err, "nvrtcCreateProgram")
    try:
        for e in exprs:
            _check(nvrtc, nvrtc.nvrtcAddNameExpression(prog, e.encode()), f"nvrtcAddNameExpression({e})")
        opts = [o.encode() for o in (*glue.NVRTC_OPTIONS, f"--gpu-architecture={target}")]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        _, size = nvrtc.nvrtcGetProgramLogSize(prog)
        # Output buffers are bytearrays: NVRTC writes into them, and `b" " * 1` would be CPython's
        # shared one-byte bytes object (overwriting it corrupts every b" " in the process).
        log = bytearray(size)
        nvrtc.nvrtcGetProgramLog(prog, log)
        log = log.decode(errors="replace").rstrip("\x00 ")
        assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, (
            f"NVRTC failed to compile {filename} for {target} ({err}) with {len(exprs)} configurations:\n{log}")
        lowered = {}
        for e in exprs:
            err, name = nvrtc.nvrtcGetLoweredName(prog, e.encode())
            _check(nvrtc, err, f"nvrtcGetLoweredName({e})")
            lowered[e] = name.decode()
        if target.startswith("sm_"):
            _, size = nvrtc.nvrtcGetCUBINSize(prog)
            binary = bytearray(size)
            _check(nvrtc, nvrtc.nvrtcGetCUBIN(prog, binary), "nvrtcGetCUBIN")
            return bytes(binary), lowered, log
        _, size = nvrtc.nvrtcGetPTXSize(prog)
        ptx = bytearray(size)
        _check(nvrtc, nvrtc.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return ptx.decode().rstrip("\x00"), lowered, log
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _entry_bodies(ptx: str) -> dict[str, str]:
    """PTX text of each ``.entry``, by (mangled) name."""
    parts = re.split(r"(?m)^\s*(?:\.(?:visible|weak)\s+)?\.entry\s+", ptx)[1:]
    return {p.split("(", 1)[0].strip(): p for p in parts}


FILES = sorted(glue.NAME_EXPRESSIONS)


def test_every_source_file_is_compiled_by_this_test():
    on_disk = sorted(p.name for p in glue.KERNEL_DIR.glob("*.cu"))
    assert on_disk == FILES, "a .cu file the glue does not list in NAME_EXPRESSIONS would go unchecked"


def test_every_kernel_template_has_a_configuration():
    """Each __global__ function of each file is instantiated by at least one name expression."""
    for f in FILES:
        text = glue.source(f)
        kernels = set(re.findall(r"__global__\s+void\s+(?:__launch_bounds__\((?:[^()]|\([^()]*\))*\)\s*)?(\w+)\s*\(", text))
        used = {re.match(r"tc::(\w+)", e).group(1) for e in glue.NAME_EXPRESSIONS[f]}
        assert kernels and kernels == used, f"{f}: kernels {sorted(kernels)}, configured {sorted(used)}"


@pytest.mark.parametrize("filename", FILES)
def test_compiles_to_ptx_for_compute_90(filename):
    ptx, lowered, _ = _compile(filename, f"compute_{ARCH}")
    assert f".target sm_{ARCH}" in ptx
    bodies = _entry_bodies(ptx)
    for expr, name in lowered.items():
        assert name in bodies, f"{expr} ({name}) has no .entry in the PTX"
        if "double" not in expr:
            # float kernels stay in float: a stray double literal would promote arithmetic to .f64
            assert re.search(r"\.f64\b", bodies[name]) is None, f"{expr} does float64 arithmetic"
    if filename == "sgemm.cu":
        tf32 = bodies[lowered[glue.SGEMM["tf32_mma"]["float32"].expr]]
        assert "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32" in tf32 and "cvt.rna.tf32.f32" in tf32
        vec = bodies[lowered[glue.SGEMM["vectorized"]["float32"].expr]]
        assert "ld.global.nc.v4.f32" in vec or "ld.global.v4.f32" in vec   # the float4 loads survived
    if filename == "softmax.cu":
        warp = bodies[lowered[glue.softmax_expr("warp", "softmax", "float32", 8)]]
        assert "shfl.sync.bfly" in warp and "bar.sync" not in warp
        block = bodies[lowered[glue.softmax_expr("block", "softmax", "float32", glue.SOFTMAX_BLOCK_THREADS)]]
        assert "bar.sync" in block


@pytest.mark.parametrize("filename", FILES)
def test_compiles_to_sm_90_cubin(filename):
    nvrtc = _nvrtc()
    err, archs = nvrtc.nvrtcGetSupportedArchs()
    if ARCH not in archs:
        pytest.skip(f"this NVRTC cannot emit sm_{ARCH} cubins (supports {archs})")
    binary, _, _ = _compile(filename, f"sm_{ARCH}")
    assert binary[:4] == b"\x7fELF"


# --------------------------------------------------------------------------- glue, pure Python

def test_source_inlines_the_header_once():
    text = glue.source("softmax.cu")
    assert not re.search(r'(?m)^\s*#include', text) and "block_online" in text
    assert text.count("namespace tc {") == 2          # common.cuh's and softmax.cu's


def test_importing_the_glue_does_not_import_cupy():
    code = "import sys, tensorcore.backends.cupy as g; g.NAME_EXPRESSIONS; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registered_above_numba_and_unavailable_without_a_gpu():
    import tensorcore as tc
    from tensorcore.backends import registry

    assert registry._SPECS["cupy"].priority > registry._SPECS["numba"].priority
    status = tc.backends.available()["cupy"]
    if not tc.cuda.is_available():
        assert not status and status.reason


def test_sgemm_configurations_are_consistent():
    for name, configs in glue.SGEMM.items():
        assert "float32" in configs
        for dt, cfg in configs.items():
            nums = [int(v) for v in re.findall(r"\b\d+\b", cfg.expr)]
            assert cfg.expr in glue.NAME_EXPRESSIONS["sgemm.cu"]
            if name in ("blocktile_2d", "vectorized", "double_buffered"):
                bm, bn, _, tm, tn = nums[-5:]
                assert cfg.tile == (bm, bn) and cfg.threads == (bm // tm) * (bn // tn)
            elif name == "warptile":
                bm, bn, *_, nt = nums
                assert cfg.tile == (bm, bn) and cfg.threads == nt
            else:
                bm, bn, _, wm, wn = nums
                assert cfg.tile == (bm, bn) and cfg.threads == wm * wn * 32
    assert glue.SGEMM_DEFAULT in glue.SGEMM and set(glue.SGEMM["blocktile_2d"]) == {"float32", "float64"}


def test_select_sgemm():
    S = glue.select_sgemm
    assert S(512, 512, 512, "float64", True, True) == ("blocktile_2d", False)
    assert S(512, 512, 512, "float64", False, True) == ("blocktile_2d", False)
    assert S(17, 33, 9, "float32", True, True) == (glue.SGEMM_DEFAULT, False)
    assert S(17, 33, 9, "float32", True, True, allow_tf32=True) == ("tf32_mma", False)
    assert S(64, 64, 64, "float32", False, True) == ("blocktile_2d", False)           # small: read in place
    assert S(1024, 1024, 1024, "float32", True, False) == (glue.SGEMM_DEFAULT, True)  # large: copy
    assert S(1024, 1024, 1024, "float32", False, True, allow_tf32=True) == ("tf32_mma", True)


def test_sgemm_grid_and_vec_rule():
    assert glue.sgemm_grid(1, 1, (128, 128)) == (1, 1)
    assert glue.sgemm_grid(129, 1000, (128, 128)) == (8, 2)
    assert glue.sgemm_grid(1000, 1001, (64, 64)) == (16, 16)
    ok = (256, 512, 1024)
    assert glue.sgemm_vec_ok(1000, 1000, ok, (0, 4, 8))
    assert not glue.sgemm_vec_ok(999, 1000, ok, (0, 4, 8))      # rows of A not 16-byte aligned
    assert not glue.sgemm_vec_ok(1000, 1001, ok, (0, 4, 8))     # rows of B and C
    assert not glue.sgemm_vec_ok(1000, 1000, (256, 516, 1024), (0, 4, 8))
    assert not glue.sgemm_vec_ok(1000, 1000, ok, (0, 6, 8))     # a batch entry starts misaligned


def test_softmax_plan_and_launch():
    assert glue.softmax_plan(1) == ("warp", 1)
    assert glue.softmax_plan(32) == ("warp", 1)
    assert glue.softmax_plan(33) == ("warp", 2)
    assert glue.softmax_plan(1000) == ("warp", 32)
    assert glue.softmax_plan(1024) == ("warp", 32)
    assert glue.softmax_plan(1025) == ("block", glue.SOFTMAX_BLOCK_THREADS)
    assert glue.softmax_plan(17, force="block") == ("block", glue.SOFTMAX_BLOCK_THREADS)
    with pytest.raises(ValueError, match="at most 1024"):
        glue.softmax_plan(1025, force="warp")
    for C in (1, 31, 33, 500, 1024):
        kind, size = glue.softmax_plan(C)
        assert 32 * size >= C and (size == 1 or 16 * size < C)        # the smallest that holds the row
        assert glue.softmax_expr(kind, "softmax", "float32", size) in glue.NAME_EXPRESSIONS["softmax.cu"]
    assert glue.softmax_launch(1, "warp") == (1, 32 * glue.SOFTMAX_WARPS)
    assert glue.softmax_launch(9, "warp") == (3, 128)
    assert glue.softmax_launch(10**9, "warp")[0] == glue.MAX_GRID_YZ           # grid-stride beyond
    assert glue.softmax_launch(7, "block") == (7, glue.SOFTMAX_BLOCK_THREADS)


def test_flat_launch():
    assert glue.flat_launch(1) == (1, 256)
    assert glue.flat_launch(257) == (2, 256)
    blocks, threads = glue.flat_launch(10**12)
    assert blocks == glue.FLAT_MAX_BLOCKS and blocks <= glue.MAX_GRID_X


@pytest.mark.parametrize("og,kred,groups,P", [(64, 576, 1, 64 * 56 * 56), (1, 1, 1, 1), (512, 4608, 1, 8 * 7 * 7),
                                              (8, 27, 4, 17), (3, 9, 1000, 10**6), (16, 16, 1, 129)])
def test_conv_weight_split_covers_the_reduction(og, kred, groups, P):
    splits, chunk = glue.conv_weight_split(og, kred, groups, P, sm_count=132)
    bk = glue.CONV_TILE[2]
    assert splits >= 1 and chunk % bk == 0 and chunk > 0
    assert (splits - 1) * chunk < P <= splits * chunk                 # every index once, no empty split
    assert groups * splits <= glue.MAX_GRID_YZ


def test_optim_chunks():
    tensors, starts = glue.optim_chunks([3, 20000, 0, 16384], chunk=16384)
    assert tensors == [0, 1, 1, 3] and starts == [0, 0, 16384, 0]
    assert glue.optim_chunks([]) == ([], [])


def test_pool_overlap_rule():
    assert not pool_geometry.overlaps((2, 2), (2, 2))
    assert not pool_geometry.overlaps((2, 3), (3, 3))
    assert pool_geometry.overlaps((3, 3), (2, 2))
    assert pool_geometry.overlaps((2, 3), (2, 2))
