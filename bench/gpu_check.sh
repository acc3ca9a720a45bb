#!/usr/bin/env bash
# Device check for the Numba-CUDA backend, on a machine with an NVIDIA GPU, CuPy and numba-cuda:
#
#   bash bench/gpu_check.sh          # from anywhere, in the project's environment; a few minutes
#
# 0. installs this checkout without dependencies (the machine has CuPy, numba-cuda, PyTorch, pybind11)
#    and runs the whole test suite, the GPU tests included;
# 1. the Numba GPU tests again on their own (tests/gpu/test_numba_gpu.py);
# 2. compute-sanitizer memcheck + racecheck over one small launch of every kernel, odd shapes (if installed);
# 3. the matmul ladder and the softmax strategies timed with CUDA events (median of 20 after warm-up),
#    against cuBLAS (CuPy, TF32 off) and a device-to-device copy of the same bytes;
# 4-6. the same for the cupy backend (CUDA C): its GPU tests, compute-sanitizer over them at small
#    shapes, and timings against cuBLAS, cuDNN / PyTorch and copy bandwidth, saved as JSON.
# Prints one line per measurement; exits non-zero on the first failure.
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

# ==================================================================================================
# The cupy backend (CUDA C kernels through NVRTC): tests, compute-sanitizer, and timings against
# cuBLAS, cuDNN / PyTorch and copy bandwidth. TF32 stays off for every FP32 comparison (CUPY_TF32=0
# above, PyTorch's flags below); the opt-in tf32_mma rung is listed next to FP32 cuBLAS for scale.
# Timings also go to bench/results/gpu-check-cupy-<machine>-<time>.json.

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

echo "== 6. cupy backend: timings"
python - <<'PYEOF'
import json, os, time
import numpy as np, cupy
import tensorcore as tc
from tensorcore.backends import cupy as glue
from bench import machine

B = tc.backends.get("cupy")
glue.allow_tf32 = False
try:
    import torch
    HAVE_TORCH = torch.cuda.is_available()
except ImportError:
    HAVE_TORCH = False
if HAVE_TORCH:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

_flush = cupy.empty(256 << 20, dtype=np.uint8)      # larger than any L2 (H100: 50 MiB)
results = []


def median_ms(fn, warmup=3, repeat=20, flush=True):
    """Median of `repeat` CUDA-event timings after `warmup` calls (NVRTC compiles on the first);
    L2 flushed before each timed call unless `flush` is False."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if flush:
            _flush.fill(0)
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return float(np.median(times))


def torch_ms(fn, **kw):
    # PyTorch queues on its own current stream: synchronize so the CuPy events bracket its work.
    def run():
        torch.cuda.synchronize()
        fn()
        torch.cuda.synchronize()
    return median_ms(run, **kw)


def report(kernel, shape, impl, ms, ref_name, ref_ms, flop=None, nbytes=None):
    line = f"{kernel:16s} {shape:36s} {impl:18s} {ms:9.3f} ms"
    rec = dict(kernel=kernel, shape=shape, impl=impl, ms=ms, reference=ref_name, ratio=ms / ref_ms)
    if flop:
        rec["tflops"] = flop / ms / 1e9
        line += f" {rec['tflops']:7.2f} TFLOP/s"
    if nbytes:
        rec["gbps"] = nbytes / ms / 1e6
        line += f" {rec['gbps']:7.1f} GB/s"
    print(line + f"  {ms / ref_ms:5.2f}x {ref_name}", flush=True)
    results.append(rec)


rng = cupy.random.default_rng(0)

# -- SGEMM ladder vs cuBLAS (FP32)
for M, N, K in ((1024, 1024, 1024), (4096, 4096, 4096), (1000, 1001, 999), (8, 4096, 4096)):
    a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
    flop, shape = 2 * M * N * K, f"{M}x{N}x{K}"
    ref = median_ms(lambda: a @ b)
    report("matmul", shape, "cublas", ref, "cublas", ref, flop=flop)
    for name in glue.SGEMM:
        t = median_ms(lambda: glue.matmul_variant(a, b, name))
        report("matmul", shape, name + (" (default)" if name == glue.SGEMM_DEFAULT else ""), t, "cublas", ref, flop=flop)

# -- softmax vs a device-to-device copy of the same bytes, and torch.softmax
for rows, cols in ((65536, 128), (8192, 1024), (4096, 4000), (256, 65536)):
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    nbytes, shape = 2 * x.nbytes, f"{rows}x{cols}"
    copy = median_ms(lambda: x.copy())
    report("softmax", shape, "d2d copy", copy, "copy", copy, nbytes=nbytes)
    for variant in (("warp", "block") if cols <= 1024 else ("block",)):
        t = median_ms(lambda: glue.softmax_variant(x, variant))
        report("softmax", shape, variant, t, "copy", copy, nbytes=nbytes)
    if HAVE_TORCH:
        xt = torch.as_tensor(x, device="cuda")
        report("softmax", shape, "torch", torch_ms(lambda: torch.softmax(xt, -1)), "copy", copy, nbytes=nbytes)
    y, g = B.softmax(x), rng.standard_normal((rows, cols), dtype=np.float32)
    report("softmax_bwd", shape, "cupy", median_ms(lambda: B.softmax_backward(y, g)), "copy", copy,
           nbytes=1.5 * nbytes)

# -- conv2d forward and gradients vs cuDNN through PyTorch (TF32 off)
for n, c, h, o, k, s in ((32, 64, 56, 64, 3, 1), (32, 128, 28, 256, 3, 2), (64, 3, 224, 64, 7, 2)):
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    w = rng.standard_normal((o, c, k, k), dtype=np.float32) * 0.05
    p = k // 2
    y = B.conv2d(x, w, (s, s), (p, p), (1, 1), 1)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    flop, shape = 2 * n * o * y.shape[2] * y.shape[3] * c * k * k, f"x{(n, c, h, h)} w{(o, c, k, k)} s{s}"
    ours = {"fwd": lambda: B.conv2d(x, w, (s, s), (p, p), (1, 1), 1),
            "bwd_data": lambda: B.conv2d_backward(x, w, gy, (s, s), (p, p), (1, 1), 1, True, False),
            "bwd_weight": lambda: B.conv2d_backward(x, w, gy, (s, s), (p, p), (1, 1), 1, False, True)}
    if HAVE_TORCH:
        xt, wt, gyt = (torch.as_tensor(v, device="cuda") for v in (x, w, gy))
        theirs = {"fwd": lambda: torch.nn.functional.conv2d(xt, wt, stride=s, padding=p),
                  "bwd_data": lambda: torch.nn.grad.conv2d_input(xt.shape, wt, gyt, stride=s, padding=p),
                  "bwd_weight": lambda: torch.nn.grad.conv2d_weight(xt, wt.shape, gyt, stride=s, padding=p)}
    for which, fn in ours.items():
        t = median_ms(fn, repeat=10)
        if HAVE_TORCH:
            ref = torch_ms(theirs[which], repeat=10)
            report(f"conv2d_{which}", shape, "cudnn", ref, "cudnn", ref, flop=flop)
            report(f"conv2d_{which}", shape, "cupy", t, "cudnn", ref, flop=flop)
        else:
            report(f"conv2d_{which}", shape, "cupy", t, "cupy", t, flop=flop)

# -- max pooling vs PyTorch; backward gather (no overlap) or atomic scatter (overlap)
x = rng.standard_normal((32, 64, 112, 112), dtype=np.float32)
for kernel, stride, padding in (((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0))):
    shape = f"{x.shape} k{kernel[0]} s{stride[0]}"
    y, index = B.max_pool2d(x, kernel, stride, padding)
    nbytes = x.nbytes + y.nbytes + index.nbytes
    t = median_ms(lambda: B.max_pool2d(x, kernel, stride, padding))
    if HAVE_TORCH:
        xt = torch.as_tensor(x, device="cuda")
        ref = torch_ms(lambda: torch.nn.functional.max_pool2d(xt, kernel, stride, padding, return_indices=True))
        report("max_pool2d", shape, "torch", ref, "torch", ref, nbytes=nbytes)
        report("max_pool2d", shape, "cupy", t, "torch", ref, nbytes=nbytes)
    else:
        report("max_pool2d", shape, "cupy", t, "cupy", t, nbytes=nbytes)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    tb = median_ms(lambda: B.max_pool2d_backward(gy, index, x.shape))
    impl = "cupy scatter" if glue.pool_overlaps(kernel, stride) else "cupy gather"
    report("max_pool2d_bwd", shape, impl, tb, "cupy fwd", t, nbytes=nbytes)

# -- LSTM cell vs PyTorch's LSTMCell (forward; forward + backward)
for N, I, H in ((64, 512, 512), (256, 1024, 1024)):
    x, h, c = (rng.standard_normal(sh, dtype=np.float32) for sh in ((N, I), (N, H), (N, H)))
    w_ih, w_hh = (rng.standard_normal(sh, dtype=np.float32) * 0.05 for sh in ((4 * H, I), (4 * H, H)))
    b = rng.standard_normal(4 * H, dtype=np.float32)
    gh, gc = rng.standard_normal((N, H), dtype=np.float32), rng.standard_normal((N, H), dtype=np.float32)
    shape, flop = f"N{N} I{I} H{H}", 2 * N * 4 * H * (I + H)

    def ours_both():
        _, _, act = B.lstm_cell(x, h, c, w_ih, w_hh, b)
        B.lstm_cell_backward(x, h, c, w_ih, w_hh, act, gh, gc)
    t_f, t_b = median_ms(lambda: B.lstm_cell(x, h, c, w_ih, w_hh, b)), median_ms(ours_both)
    if HAVE_TORCH:
        cell = torch.nn.LSTMCell(I, H).cuda()
        with torch.no_grad():
            cell.weight_ih.copy_(torch.as_tensor(w_ih, device="cuda"))
            cell.weight_hh.copy_(torch.as_tensor(w_hh, device="cuda"))
        xt, ht, ct = (torch.as_tensor(v, device="cuda").requires_grad_() for v in (x, h, c))
        ght, gct = torch.as_tensor(gh, device="cuda"), torch.as_tensor(gc, device="cuda")

        def torch_fwd():
            with torch.no_grad():
                cell(xt, (ht, ct))

        def torch_both():
            hn, cn = cell(xt, (ht, ct))
            torch.autograd.backward((hn, cn), (ght, gct))
        ref_f, ref_b = torch_ms(torch_fwd), torch_ms(torch_both)
        report("lstm_cell", shape, "torch", ref_f, "torch", ref_f, flop=flop)
        report("lstm_cell", shape, "cupy", t_f, "torch", ref_f, flop=flop)
        report("lstm_fwd+bwd", shape, "torch", ref_b, "torch", ref_b, flop=3 * flop)
        report("lstm_fwd+bwd", shape, "cupy", t_b, "torch", ref_b, flop=3 * flop)
    else:
        report("lstm_cell", shape, "cupy", t_f, "cupy", t_f, flop=flop)
        report("lstm_fwd+bwd", shape, "cupy", t_b, "cupy", t_b, flop=3 * flop)

# -- one fused Adam launch over a model's parameters vs tensorcore's per-tensor Adam (and PyTorch's fused)
shapes = [(1024, 1024), (1024,), (4096, 1024), (4096,), (1024, 4096), (1024,)] * 8
params = [rng.standard_normal(sh, dtype=np.float32) for sh in shapes]
grads = [rng.standard_normal(sh, dtype=np.float32) for sh in shapes]
m, v = [cupy.zeros_like(p) for p in params], [cupy.zeros_like(p) for p in params]
nbytes = sum(p.nbytes for p in params) * 7
shape = f"{len(shapes)} tensors {sum(p.size for p in params) / 1e6:.1f}M"
t = median_ms(lambda: glue.fused_adam_step(params, grads, m, v, 10, 1e-3), flush=False)
tensors = [tc.tensor(p.copy(), device="cuda", requires_grad=True) for p in params]
for tt, g in zip(tensors, grads):
    tt.grad = tc.tensor(g, device="cuda")
opt = tc.optim.Adam(tensors, lr=1e-3)
ref = median_ms(opt.step, flush=False)
report("adam_step", shape, "tc.optim.Adam", ref, "tc.optim.Adam", ref, nbytes=nbytes)
report("adam_step", shape, "fused (1 launch)", t, "tc.optim.Adam", ref, nbytes=nbytes)
if HAVE_TORCH:
    tparams = [torch.as_tensor(p, device="cuda").clone().requires_grad_() for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.as_tensor(g, device="cuda")
    topt = torch.optim.Adam(tparams, lr=1e-3, fused=True)
    report("adam_step", shape, "torch fused", torch_ms(topt.step, flush=False), "tc.optim.Adam", ref, nbytes=nbytes)

desc = machine.describe()
os.makedirs("bench/results", exist_ok=True)
path = f"bench/results/gpu-check-cupy-{machine.short_name(desc)}-{time.strftime('%Y%m%d-%H%M%S')}.json"
with open(path, "w") as f:
    json.dump(dict(kind="gpu-check-cupy", machine=desc, time=time.strftime("%Y-%m-%dT%H:%M:%S"), tf32=False,
                   torch=HAVE_TORCH, results=results), f, indent=1)
print("wrote", path)
PYEOF
echo "gpu_check: done"
