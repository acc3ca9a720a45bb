#!/usr/bin/env bash
# Device check for the Numba-CUDA backend, on a machine with an NVIDIA GPU, CuPy and numba-cuda:
#
#   bash bench/gpu_check.sh          # from anywhere, in the project's environment; a few minutes
#
# 1. the GPU test suite (tests/gpu/test_numba_gpu.py);
# 2. compute-sanitizer memcheck + racecheck over one small launch of every kernel, odd shapes (if installed);
# 3. the matmul ladder and the softmax strategies timed with CUDA events (median of 20 after warm-up),
#    against cuBLAS (CuPy, TF32 off) and a device-to-device copy of the same bytes.
# Prints one line per measurement; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUPY_TF32=0
unset NUMBA_ENABLE_CUDASIM

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python -c "import numba, numba_cuda, cupy; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, 'cupy', cupy.__version__)"

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

echo "== 3. timings"
python - <<'EOF'
import numpy as np, cupy
import tensorcore as tc
from tensorcore.backends import numba as glue
from tensorcore.kernels.numba.matmul import VARIANTS, DEFAULT

tc.backends.get("numba")


def median_ms(fn, warmup=3, repeat=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return float(np.median(times))


rng = cupy.random.default_rng(0)
for n in (1024, 4096):
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    flop = 2 * n ** 3
    ref = median_ms(lambda: a @ b)
    print(f"matmul {n}^3 float32  cublas        {ref:9.3f} ms  {flop / ref / 1e9:8.1f} TFLOP/s  1.00x")
    for name in VARIANTS:
        if name == "naive" and n > 2048:
            continue
        t = median_ms(lambda: glue.matmul_variant(a, b, name), repeat=5 if name in ("naive", "coalesced") else 20)
        mark = " (default)" if name == DEFAULT else ""
        print(f"matmul {n}^3 float32  {name:13s} {t:9.3f} ms  {flop / t / 1e9:8.1f} TFLOP/s  {t / ref:5.2f}x cublas{mark}")

for rows, cols in ((65536, 128), (8192, 1024), (256, 65536)):
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    nbytes = 2 * x.nbytes                                     # read once + write once, the ideal
    copy = median_ms(lambda: x.copy())
    print(f"softmax {rows}x{cols} float32  device copy  {copy:8.3f} ms  {nbytes / copy / 1e6:7.1f} GB/s")
    for variant in ("block", "warp"):
        t = median_ms(lambda: glue.softmax_variant(x, variant))
        print(f"softmax {rows}x{cols} float32  {variant:11s}  {t:8.3f} ms  {nbytes / t / 1e6:7.1f} GB/s  {t / copy:5.2f}x copy")
EOF
echo "gpu_check: done"
