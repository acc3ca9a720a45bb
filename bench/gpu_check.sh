#!/usr/bin/env bash
# Device check for the Numba-CUDA backend, on a machine with an NVIDIA GPU, CuPy and numba-cuda:
#
#   bash bench/gpu_check.sh          # from anywhere, in the project's environment; a few minutes
#
# 0. installs this checkout without dependencies (the machine has CuPy, numba-cuda, PyTorch, pybind11)
#    and runs the whole test suite, the GPU tests included;
# 1. the Numba GPU tests again on their own (tests/gpu/test_numba_gpu.py);
# 2. compute-sanitizer memcheck + racecheck over one small launch of every kernel, odd shapes (if installed);
# 3. the numba backend's GPU report, `python -m bench gpu --backend numba` (bench/gpu.py): the matmul
#    ladder at 1024, 2048 and 4096 against cuBLAS (CuPy, TF32 off), softmax, cross-entropy and pooling
#    against a device-to-device copy of the same bytes, conv2d and the LSTM cell against PyTorch (TF32
#    off); CUDA events, median of up to 20 runs after warm-up; JSON and markdown in bench/results/;
# 4-6. the same for the cupy backend (CUDA C): its GPU tests, compute-sanitizer over them at small
#    shapes, and `python -m bench gpu --backend cupy`.
# Prints one line per measurement; exits non-zero on the first failure, except that a benchmark whose
# measurements fail (listed as FAILED in its report) fails the script only at the end, after both reports.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUPY_TF32=0
unset NUMBA_ENABLE_CUDASIM

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python -c "import numba, numba_cuda, cupy; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'cupy', cupy.__version__)"

echo "== 0. install without dependencies; the full test suite, GPU tests included"
python -m pip install -q --no-deps --no-build-isolation -e .
python -m pytest -q -p no:cacheprovider

echo "== 1. GPU tests"
python -m pytest -q -p no:cacheprovider -m gpu tests/gpu/test_numba_gpu.py

SMALL_RUN=$(cat <<'EOF'
import numpy as np, cupy, tensorcore as tc
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
        getattr(B, kind)(x, (1,), False)
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
cupy.cuda.runtime.deviceSynchronize()
print("small run of every kernel: done")
EOF
)

echo "== 2. compute-sanitizer"
SANITIZER=$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
if [ -x "$SANITIZER" ]; then
    "$SANITIZER" --tool memcheck --error-exitcode 1 python -c "$SMALL_RUN"
    "$SANITIZER" --tool racecheck --error-exitcode 1 python -c "$SMALL_RUN"
else
    echo "compute-sanitizer not found: running the small launch without it"
    python -c "$SMALL_RUN"
fi

echo "== 3. numba backend: timings (python -m bench gpu)"
# Bounded, so a hung kernel cannot eat the time the cupy sections need.
BENCH_FAILED=""
timeout 300 python -m bench gpu --backend numba || BENCH_FAILED="numba"

# ==================================================================================================
# The cupy backend (CUDA C kernels through NVRTC): tests, compute-sanitizer, and timings against
# cuBLAS, cuDNN / PyTorch and copy bandwidth. TF32 stays off for every FP32 comparison (CUPY_TF32=0
# above, PyTorch's flags in bench/gpu.py); the opt-in tf32_mma rung is listed next to FP32 cuBLAS for
# scale. Timings also go to bench/results/gpu-cupy-<machine>-<time>.json and .md.

echo "== 4. cupy backend: GPU tests"
python -m pytest -q -p no:cacheprovider -m gpu tests/gpu/test_cupy_gpu.py

echo "== 5. cupy backend: compute-sanitizer over the GPU tests at small shapes"
CUPY_SELECT="not out_of_memory and not cnn_training and not tensor_api"
if [ -x "$SANITIZER" ]; then
    TC_GPU_SMALL=1 "$SANITIZER" --tool memcheck --error-exitcode 1 --report-api-errors no \
        python -m pytest -q -p no:cacheprovider -x -m gpu tests/gpu/test_cupy_gpu.py -k "$CUPY_SELECT"
    TC_GPU_SMALL=1 "$SANITIZER" --tool racecheck --error-exitcode 1 --report-api-errors no \
        python -m pytest -q -p no:cacheprovider -x -m gpu tests/gpu/test_cupy_gpu.py -k "$CUPY_SELECT and float32"
else
    echo "compute-sanitizer not found: skipped"
fi

echo "== 6. cupy backend: timings (python -m bench gpu)"
timeout 300 python -m bench gpu --backend cupy || BENCH_FAILED="${BENCH_FAILED:+$BENCH_FAILED, }cupy"
if [ -n "${BENCH_FAILED:-}" ]; then
    echo "gpu_check: the GPU report failed for: $BENCH_FAILED (see FAILED and the messages above)"
    exit 1
fi
echo "gpu_check: done"
