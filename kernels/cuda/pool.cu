// 2-D max and average pooling over NCHW arrays, forward and backward; T is float or double.
//
// Geometry as the reference (tensorcore/backends/reference.py): kernel (KH, KW), stride (SH, SW),
// padding (PH, PW), no dilation, floor output sizes, and the op layer guarantees 2 * pad <= kernel,
// so every window holds at least one real element. Planes are N*C independent H x W images; a flat
// index `plane * H * W + h * W + w` addresses the input.
//
// max_pool2d_forward: one thread per output element (grid-stride). The window's real (unpadded)
//   elements are scanned in row-major order: the first maximum wins ties, and the first NaN is the
//   maximum. That is the reference's argmax over the -inf-padded window view, since -inf padding can
//   only tie, never win, and where it ties (a window whose real elements are all -inf) the reference
//   and PyTorch also report the first real element. The index is h * W + w of the winner in its plane
//   (PyTorch's return_indices convention), always inside the plane.
//   Cost: at most KH*KW reads (cached: neighbouring windows share them) and 2 writes an output.
// max_pool2d_backward:
//   * windows that do not overlap (SH >= KH and SW >= KW): a GATHER, one thread per input element.
//     At most one window contains (h, w); the thread reads that window's index and writes grad or 0.
//     Every input element is written exactly once: no atomics, no zero-fill, deterministic.
//   * overlapping windows: a SCATTER, one thread per output, atomicAdd of its gradient into a zeroed
//     input gradient (several windows may pick the same element). Non-deterministic summation order.
//   An index outside the plane (never produced by the forward) is dropped, and in the gather an index
//   outside the thread's own window likewise; the reference would route such a gradient to a
//   neighbouring element or plane.
// avg_pool2d_forward: one thread per output, sum of the real elements / divisor, where the divisor is
//   KH*KW (count_include_pad) or the number of real elements in the window (valid rows x valid cols).
// avg_pool2d_backward: a gather for every geometry, one thread per input element, summing
//   dy / divisor over the windows that contain it: those are closed-form ranges of output rows and
//   columns (no index lookups), so overlap needs no atomics either; deterministic.
#include "common.cuh"

namespace tc {

struct PoolGeom {
    int H, W, OH, OW, KH, KW, SH, SW, PH, PW;
};

// Kernels take the geometry as plain ints (what a CuPy launch passes) and pack it on entry.
#define TC_POOL_ARGS int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW
#define TC_POOL_GEOM const PoolGeom g{H, W, OH, OW, KH, KW, SH, SW, PH, PW}

template <class T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, long long* __restrict__ index,
                                   int planes, TC_POOL_ARGS) {
    TC_POOL_GEOM;
    const long long n = (long long)planes * g.OH * g.OW;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const int ow = (int)(i % g.OW);
        const int oh = (int)((i / g.OW) % g.OH);
        const long long plane = i / ((long long)g.OW * g.OH);
        const T* xp = x + plane * g.H * g.W;
        const int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
        const int h_lo = max(h0, 0), h_hi = min(h0 + g.KH, g.H);
        const int w_lo = max(w0, 0), w_hi = min(w0 + g.KW, g.W);
        T best = T(0);
        int bh = h_lo, bw = w_lo;
        bool first = true;
        for (int h = h_lo; h < h_hi; ++h) {
            for (int w = w_lo; w < w_hi; ++w) {
                const T v = xp[h * g.W + w];
                // argmax order: take the first element, then only a strictly larger one or a NaN
                // (and nothing once the best is NaN).
                if (first || (best == best && (v > best || v != v))) {
                    best = v;
                    bh = h;
                    bw = w;
                    first = false;
                }
            }
        }
        y[i] = best;
        index[i] = (long long)bh * g.W + bw;
    }
}

template <class T>
__global__ void max_pool2d_backward_gather(const T* __restrict__ gy, const long long* __restrict__ index,
                                           T* __restrict__ gx, int planes, TC_POOL_ARGS) {
    TC_POOL_GEOM;
    const long long n = (long long)planes * g.H * g.W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const int w = (int)(i % g.W);
        const int h = (int)((i / g.W) % g.H);
        const long long plane = i / ((long long)g.W * g.H);
        // Non-overlapping windows: the only candidate window row is (h + PH) / SH, and it contains h
        // iff the offset inside it is < KH (and the window exists).
        const int th = h + g.PH, tw = w + g.PW;
        const int oh = th / g.SH, ow = tw / g.SW;
        T v = T(0);
        if (th - oh * g.SH < g.KH && oh < g.OH && tw - ow * g.SW < g.KW && ow < g.OW) {
            const long long o = (plane * g.OH + oh) * g.OW + ow;
            if (index[o] == (long long)h * g.W + w) v = gy[o];
        }
        gx[i] = v;
    }
}

template <class T>
__global__ void max_pool2d_backward_scatter(const T* __restrict__ gy, const long long* __restrict__ index,
                                            T* __restrict__ gx, int planes, TC_POOL_ARGS) {
    TC_POOL_GEOM;
    const long long n = (long long)planes * g.OH * g.OW;
    const long long hw = (long long)g.H * g.W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const long long plane = i / ((long long)g.OW * g.OH);
        const long long at = index[i];
        if (at >= 0 && at < hw) atomicAdd(gx + plane * hw + at, gy[i]);
    }
}

// Number of real (unpadded) positions of a window starting at `start` of length k in [0, size).
__device__ __forceinline__ int valid_count(int start, int k, int size) {
    const int lo = start > 0 ? start : 0, hi = start + k < size ? start + k : size;
    return hi - lo;
}

template <class T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, int planes, TC_POOL_ARGS,
                                   int count_include_pad) {
    TC_POOL_GEOM;
    const long long n = (long long)planes * g.OH * g.OW;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const int ow = (int)(i % g.OW);
        const int oh = (int)((i / g.OW) % g.OH);
        const long long plane = i / ((long long)g.OW * g.OH);
        const T* xp = x + plane * g.H * g.W;
        const int h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
        T s = T(0);
        for (int a = 0; a < g.KH; ++a) {
            const int h = h0 + a;
            if (h < 0 || h >= g.H) continue;
            for (int b = 0; b < g.KW; ++b) {
                const int w = w0 + b;
                if (w >= 0 && w < g.W) s += xp[h * g.W + w];
            }
        }
        const int div = count_include_pad ? g.KH * g.KW : valid_count(h0, g.KH, g.H) * valid_count(w0, g.KW, g.W);
        y[i] = s / T(div);
    }
}

template <class T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx, int planes, TC_POOL_ARGS,
                                    int count_include_pad) {
    TC_POOL_GEOM;
    const long long n = (long long)planes * g.H * g.W;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const int w = (int)(i % g.W);
        const int h = (int)((i / g.W) % g.H);
        const long long plane = i / ((long long)g.W * g.H);
        const T* gp = gy + plane * g.OH * g.OW;
        // Windows containing h: oh * SH - PH <= h <= oh * SH - PH + KH - 1, i.e.
        // ceil((h + PH - KH + 1) / SH) <= oh <= floor((h + PH) / SH), clipped to [0, OH).
        const int th = h + g.PH, tw = w + g.PW;
        const int oh_lo = th - g.KH + 1 > 0 ? (th - g.KH + 1 + g.SH - 1) / g.SH : 0;
        const int ow_lo = tw - g.KW + 1 > 0 ? (tw - g.KW + 1 + g.SW - 1) / g.SW : 0;
        const int oh_hi = min(th / g.SH, g.OH - 1), ow_hi = min(tw / g.SW, g.OW - 1);
        T s = T(0);
        for (int oh = oh_lo; oh <= oh_hi; ++oh) {
            const int h0 = oh * g.SH - g.PH;
            for (int ow = ow_lo; ow <= ow_hi; ++ow) {
                const int w0 = ow * g.SW - g.PW;
                const int div = count_include_pad ? g.KH * g.KW
                                                  : valid_count(h0, g.KH, g.H) * valid_count(w0, g.KW, g.W);
                s += gp[oh * g.OW + ow] / T(div);
            }
        }
        gx[i] = s;
    }
}

}  // namespace tc
