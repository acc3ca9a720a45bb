#!/usr/bin/env bash
# Device check for the GPU backends (numba, cupy), on a machine with an NVIDIA GPU, CuPy and numba-cuda:
#
#   bash bench/gpu_check.sh                      # every stage, in order: more than 10 minutes on an H100
#   bash bench/gpu_check.sh gpu-tests sanitize   # with little device time, two calls: the GPU tests
#   bash bench/gpu_check.sh bench                # (the rest of the suite runs in CI), then both reports
#
# Stages:
#   tests      installs this checkout without dependencies (the machine has CuPy, numba-cuda, PyTorch,
#              pybind11) and runs the whole test suite, the GPU tests (tests/gpu) included;
#   gpu-tests  the same install, then only tests/gpu;
#   sanitize   compute-sanitizer memcheck + racecheck: over one small launch of every Numba kernel at odd
#              shapes, and over the cupy backend's GPU tests at small shapes (TC_GPU_SMALL=1);
#   bench      both GPU reports, `python -m bench gpu --backend numba|cupy` (bench/gpu.py): the matmul
#              ladders at 1024, 2048 and 4096 against cuBLAS (CuPy, TF32 off), softmax, cross-entropy
#              and pooling against a device-to-device copy of the same bytes, conv2d and the LSTM cell
#              against PyTorch (TF32 off); CUDA events, median of up to 20 runs after warm-up; JSON and
#              markdown in bench/results/ (also as `bench-numba`, `bench-cupy`).
# Exits non-zero on the first failure, except that a report whose measurements fail (listed as FAILED
# in it) fails the script only at the end, after the other report.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUPY_TF32=0
unset NUMBA_ENABLE_CUDASIM

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python -c "import numba, numba_cuda, cupy; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'cupy', cupy.__version__)"

INSTALLED=""
install() {
    if [ -z "$INSTALLED" ]; then
        echo "== install without dependencies"
        python -m pip install -q --no-deps --no-build-isolation -e .
        INSTALLED=1
    fi
}

stage_tests() {
    install
    echo "== tests: the full suite, GPU tests included"
    python -m pytest -q -p no:cacheprovider
}

stage_gpu_tests() {
    install
    echo "== gpu-tests: tests/gpu"
    python -m pytest -q -p no:cacheprovider -m gpu tests/gpu
}

SMALL_RUN=$(cat <<'EOF'
import numpy as np, cupy, tensorcore as tc
cupy.cuda.set_allocator(None)   # every array its own cudaMalloc: memcheck sees an overrun the pool would hide
from tensorcore.backends import numba as glue
from tensorcore.kernels.numba.matmul import VARIANTS
B = tc.backends.get("numba")
rng = cupy.random.default_rng(0)
for dt in (np.float32, np.float64):
    a, b = rng.standard_normal((2, 131, 67)).astype(dt), rng.standard_normal((2, 67, 129)).astype(dt)
    for name in VARIANTS:
        glue.matmul_variant(a, b, name)
    x, g = rng.standard_normal((37, 1031)).astype(dt), rng.standard_normal((37, 1031)).astype(dt)
    for variant in ("block", "warp"):
        for log in (False, True):
            glue.softmax_variant(glue.softmax_variant(x, variant, log=log), variant, log=log, grad_y=g)
    losses, logp = B.cross_entropy(x, rng.integers(0, 1031, 37).astype(np.int64))
    B.cross_entropy_backward(logp, rng.integers(0, 1031, 37).astype(np.int64), losses)
    for kind in ("sum", "mean", "max", "min"):
        getattr(B, kind)(x, (1,), False); getattr(B, kind)(x, (0,), False)
    for name in ("neg", "exp", "tanh", "sigmoid", "relu"):
        getattr(B, name)(x)
    for name in ("add", "sub", "mul", "div", "maximum", "minimum", "relu_backward", "tanh_backward", "sigmoid_backward"):
        getattr(B, name)(x, g); getattr(B, name)(x, g[0]); getattr(B, name)(x, 2.0)
    im = rng.standard_normal((2, 3, 13, 11)).astype(dt)
    for k, s, p in (((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))):   # overlapping: scatter; tiled: gather
        y, idx = B.max_pool2d(im, k, s, p)
        B.max_pool2d_backward(y, idx, im.shape); B.max_pool2d_backward(y, idx.copy(), im.shape)
        for cip in (True, False):
            B.avg_pool2d_backward(B.avg_pool2d(im, k, s, p, cip), im.shape, k, s, p, cip)
    xs, hs, cs = (rng.standard_normal(s).astype(dt) for s in ((5, 7), (5, 9), (5, 9)))
    w_ih, w_hh, bias = (rng.standard_normal(s).astype(dt) for s in ((36, 7), (36, 9), (36,)))
    hn, cn, gates = B.lstm_cell(xs, hs, cs, w_ih, w_hh, bias)
    B.lstm_cell_backward(xs, hs, cs, w_ih, w_hh, gates, hn, cn)
    wc = rng.standard_normal((6, 3, 3, 2)).astype(dt)
    for stride, pad, dil, groups, w_ in (((1, 1), (1, 0), (1, 1), 1, wc), ((2, 1), (0, 1), (2, 1), 3, wc[:, :1])):
        yc = B.conv2d(im, w_, stride, pad, dil, groups)
        B.conv2d_backward(im, w_, yc, stride, pad, dil, groups, True, True)
    for vmax in (None, cupy.zeros_like(x)):
        B.adam_step(x, g, cupy.zeros_like(x), cupy.zeros_like(x), vmax, 3, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, False)
    for momentum, first in ((0.0, True), (0.9, True), (0.9, False)):
        B.sgd_step(x, g, cupy.zeros_like(x) if momentum else None, 0.1, momentum, 0.0, 0.01, False, False, first)
cupy.cuda.runtime.deviceSynchronize()
print("small run of every kernel: done")
EOF
)

SANITIZER=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")

stage_sanitize() {
    install
    echo "== sanitize: numba kernels, one small launch each"
    if [ ! -x "$SANITIZER" ]; then
        echo "compute-sanitizer not found: running the small launches without it"
        python -c "$SMALL_RUN"
        return
    fi
    # --report-api-errors no: the CUDA Python bindings under numba-cuda probe the driver with calls
    # that fail by design; those are not kernel errors.
    "$SANITIZER" --tool memcheck --error-exitcode 1 --report-api-errors no python -c "$SMALL_RUN"
    "$SANITIZER" --tool racecheck --error-exitcode 1 --report-api-errors no python -c "$SMALL_RUN"
    echo "== sanitize: cupy backend, its GPU tests at small shapes"
    local select="not out_of_memory and not cnn_training and not tensor_api"
    TC_GPU_SMALL=1 "$SANITIZER" --tool memcheck --error-exitcode 1 --report-api-errors no \
        python -m pytest -q -p no:cacheprovider -x -m gpu tests/gpu/test_cupy_gpu.py -k "$select"
    TC_GPU_SMALL=1 "$SANITIZER" --tool racecheck --error-exitcode 1 --report-api-errors no \
        python -m pytest -q -p no:cacheprovider -x -m gpu tests/gpu/test_cupy_gpu.py -k "$select and float32"
}

# A report that fails is remembered and fails the script at the end, so the other report still runs;
# each is bounded, so a hung kernel cannot eat the other's time. TF32 stays off for every FP32
# comparison (CUPY_TF32=0 above, PyTorch's flags in bench/gpu.py); cupy's opt-in tf32_mma rung is listed
# next to FP32 cuBLAS for scale.
BENCH_FAILED=""
stage_bench_numba() {
    install
    echo "== bench: numba backend (python -m bench gpu)"
    timeout 300 python -m bench gpu --backend numba || BENCH_FAILED="${BENCH_FAILED:+$BENCH_FAILED, }numba"
}

stage_bench_cupy() {
    install
    echo "== bench: cupy backend (python -m bench gpu)"
    timeout 300 python -m bench gpu --backend cupy || BENCH_FAILED="${BENCH_FAILED:+$BENCH_FAILED, }cupy"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(tests sanitize bench)
for stage in "${stages[@]}"; do
    case "$stage" in
        tests) stage_tests ;;
        gpu-tests) stage_gpu_tests ;;
        sanitize) stage_sanitize ;;
        bench) stage_bench_numba; stage_bench_cupy ;;
        bench-numba) stage_bench_numba ;;
        bench-cupy) stage_bench_cupy ;;
        *) echo "gpu_check: unknown stage '$stage' (expected tests, gpu-tests, sanitize, bench, bench-numba, bench-cupy)" >&2
           exit 2 ;;
    esac
done
if [ -n "$BENCH_FAILED" ]; then
    echo "gpu_check: the GPU report failed for: $BENCH_FAILED (see FAILED and the messages above)"
    exit 1
fi
echo "gpu_check: done (${stages[*]})"
