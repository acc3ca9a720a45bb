// Softmax, log-softmax and fused cross-entropy over the last axis of a row-major (R, C) array,
// forward and backward; T is float or double.
//
// Two strategies, chosen by the glue from the row length:
//
//   warp per row (C <= 32 * VPT <= 1024): the row lives in registers, VPT values a lane (lane l holds
//       columns l, l + 32, ...); max and sum are warp butterflies (__shfl_xor_sync): no shared memory,
//       no __syncthreads. The row is read from global memory exactly once and written once, the
//       ideal 2 * C * sizeof(T) bytes a row. WARPS rows per block, grid-stride over rows.
//   block per row (any C, meant for C > 1024): NT threads stride through the row, keeping an online
//       (max, sum) pair each -- the sum is rescaled by exp(old max - new max) whenever the max grows
//       (Milakov & Gimelshein 2018) -- so max and sum come from ONE read of the row; pairs are merged
//       across the warp with shuffles and across warps through 2 * NT/32 shared slots. A second read
//       produces the output: 3 * C * sizeof(T) bytes a row (vs 4 for max, sum, output passes).
//
// Numerics follow the reference exactly: the row maximum m is subtracted first; a row whose maximum
// is not finite (all -inf, +inf or NaN present) is shifted by 0 instead, as the reference does, which
// costs one extra read of that row (the online sum is only valid for a finite m).
//   softmax      y = exp(x - m) / s                     s = sum exp(x - m)
//   log_softmax  y = (x - m) - log(s)
//   cross_entropy (MODE 2): log_softmax into logp, plus loss[r] = -logp[r, target[r]] (NaN for a
//                target outside [0, C), which the op layer has already refused).
// Backward, given y (the forward's output) and dy:
//   softmax      dx = y * (dy - sum(dy * y))
//   log_softmax  dx = dy - exp(y) * sum(dy)
// FLOPs are negligible (C exponentials a row); everything here is bound by memory bandwidth, so the
// yardstick is a device-to-device copy of the same bytes.
#include "common.cuh"

namespace tc {

enum { SOFTMAX = 0, LOG_SOFTMAX = 1, CROSS_ENTROPY = 2 };

template <class T>
__device__ __forceinline__ void row_outputs(int mode, T x, T m, T s, T lse, T* y, long long at) {
    if (mode == SOFTMAX) y[at] = ex(x - m) / s;
    else y[at] = (x - m) - lse;
}

// --------------------------------------------------------------------------------------- warp per row
template <class T, int MODE, int VPT, int WARPS>
__global__ void __launch_bounds__(WARPS * WARP)
softmax_warp_forward(const T* __restrict__ X, T* __restrict__ Y, int R, int C, const long long* __restrict__ target,
                     T* __restrict__ loss) {
    const int lane = threadIdx.x % WARP;
    // `row` is uniform across a warp, so every shuffle below runs on a converged warp.
    for (int row = blockIdx.x * WARPS + threadIdx.x / WARP; row < R; row += gridDim.x * WARPS) {
        const T* x = X + (long long)row * C;
        T v[VPT];
        T m = neg_inf<T>();
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int j = lane + i * WARP;
            v[i] = j < C ? x[j] : neg_inf<T>();          // -inf padding never wins a max
            m = nanmax(m, v[i]);
        }
        m = warp_max(m);
        if (!finite(m)) m = T(0);                         // the reference's shift for non-finite rows
        T s = T(0);
#pragma unroll
        for (int i = 0; i < VPT; ++i)
            if (lane + i * WARP < C) s += ex(v[i] - m);
        s = warp_sum(s);
        const T lse = MODE == SOFTMAX ? T(0) : lg(s);
        T* y = Y + (long long)row * C;
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int j = lane + i * WARP;
            if (j < C) row_outputs(MODE, v[i], m, s, lse, y, j);
        }
        if (MODE == CROSS_ENTROPY && lane == 0) {
            const long long t = target[row];
            loss[row] = (t >= 0 && t < C) ? -((x[t] - m) - lse) : quiet_nan<T>();
        }
    }
}

template <class T, int LOG, int VPT, int WARPS>
__global__ void __launch_bounds__(WARPS * WARP)
softmax_warp_backward(const T* __restrict__ Yv, const T* __restrict__ G, T* __restrict__ DX, int R, int C) {
    const int lane = threadIdx.x % WARP;
    for (int row = blockIdx.x * WARPS + threadIdx.x / WARP; row < R; row += gridDim.x * WARPS) {
        const long long base = (long long)row * C;
        T yv[VPT], gv[VPT];
        T s = T(0);
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int j = lane + i * WARP;
            yv[i] = j < C ? Yv[base + j] : T(0);
            gv[i] = j < C ? G[base + j] : T(0);
            s += LOG ? gv[i] : gv[i] * yv[i];
        }
        s = warp_sum(s);
#pragma unroll
        for (int i = 0; i < VPT; ++i) {
            const int j = lane + i * WARP;
            if (j < C) DX[base + j] = LOG ? gv[i] - ex(yv[i]) * s : yv[i] * (gv[i] - s);
        }
    }
}

// -------------------------------------------------------------------------------------- block per row
template <class T, int MODE, int NT>
__global__ void __launch_bounds__(NT)
softmax_block_forward(const T* __restrict__ X, T* __restrict__ Y, int R, int C, const long long* __restrict__ target,
                      T* __restrict__ loss) {
    __shared__ T bm[NT / WARP], bs[NT / WARP];
    const int t = threadIdx.x;
    for (int row = blockIdx.x; row < R; row += gridDim.x) {     // uniform across the block
        const T* x = X + (long long)row * C;
        T m = neg_inf<T>(), s = T(0);
        for (int j = t; j < C; j += NT) online_add(m, s, x[j]);
        block_online<T, NT>(m, s, bm, bs);
        if (!finite(m)) {                                        // rare: redo the sum with shift 0
            m = T(0);
            s = T(0);
            for (int j = t; j < C; j += NT) s += ex(x[j]);
            s = block_sum<T, NT>(s, bs);
        }
        const T lse = MODE == SOFTMAX ? T(0) : lg(s);
        T* y = Y + (long long)row * C;
        for (int j = t; j < C; j += NT) row_outputs(MODE, x[j], m, s, lse, y, j);
        if (MODE == CROSS_ENTROPY && t == 0) {
            const long long tg = target[row];
            loss[row] = (tg >= 0 && tg < C) ? -((x[tg] - m) - lse) : quiet_nan<T>();
        }
    }
}

template <class T, int LOG, int NT>
__global__ void __launch_bounds__(NT)
softmax_block_backward(const T* __restrict__ Yv, const T* __restrict__ G, T* __restrict__ DX, int R, int C) {
    __shared__ T buf[NT / WARP];
    const int t = threadIdx.x;
    for (int row = blockIdx.x; row < R; row += gridDim.x) {
        const long long base = (long long)row * C;
        T s = T(0);
        for (int j = t; j < C; j += NT) s += LOG ? G[base + j] : G[base + j] * Yv[base + j];
        s = block_sum<T, NT>(s, buf);
        for (int j = t; j < C; j += NT) {
            const T y = Yv[base + j], g = G[base + j];
            DX[base + j] = LOG ? g - ex(y) * s : y * (g - s);
        }
    }
}

// ------------------------------------------------------------------------------ cross-entropy backward
// d logits[r, c] = (exp(logp[r, c]) - [c == target[r]]) * g[r]: one thread per element, grid-stride.
// Reads logp once, writes once (2 * R * C * sizeof(T) bytes), R*C exponentials.
template <class T>
__global__ void cross_entropy_backward(const T* __restrict__ logp, const long long* __restrict__ target,
                                       const T* __restrict__ g, T* __restrict__ out, int R, int C) {
    const long long n = (long long)R * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const int r = (int)(i / C), c = (int)(i - (long long)r * C);
        out[i] = (ex(logp[i]) - (c == target[r] ? T(1) : T(0))) * g[r];
    }
}

}  // namespace tc
