// Helpers shared by the CUDA C kernels of the `cupy` backend.
//
// These sources are compiled at run time by NVRTC (through CuPy's RawModule), which has no C or C++
// standard headers on its include path: only CUDA's built-in types and device functions are used
// (expf/exp, tanhf/tanh, __shfl_xor_sync, atomicAdd, float4 ...). The glue does not hand NVRTC an
// include path; it inlines `#include "common.cuh"` textually (tensorcore/backends/cupy.py:
// `source()`), so CuPy's on-disk kernel cache, keyed on the source text, sees header edits too.
//
// Index convention: sizes are `int` (the glue checks every size against 2**31 - 1 before a launch);
// any product of two sizes that addresses memory is formed in `long long`.
#pragma once

namespace tc {

enum : int { WARP = 32 };
enum : unsigned { FULL_MASK = 0xffffffffu };

template <class T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000LL);
}
template <class T> __device__ __forceinline__ T quiet_nan();
template <> __device__ __forceinline__ float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double quiet_nan<double>() {
    return __longlong_as_double(0x7ff8000000000000LL);
}

// Accurate math in the type of the argument (never the fast __expf: results must match the NumPy
// reference to ~1 ulp-ish, not 2 decimal digits).
__device__ __forceinline__ float ex(float x) { return expf(x); }
__device__ __forceinline__ double ex(double x) { return exp(x); }
__device__ __forceinline__ float lg(float x) { return logf(x); }
__device__ __forceinline__ double lg(double x) { return log(x); }
__device__ __forceinline__ float th(float x) { return tanhf(x); }
__device__ __forceinline__ double th(double x) { return tanh(x); }
__device__ __forceinline__ float sq(float x) { return sqrtf(x); }
__device__ __forceinline__ double sq(double x) { return sqrt(x); }

// The reference's sigmoid, 0.5 * (1 + tanh(x / 2)): never overflows, same rounding path.
template <class T> __device__ __forceinline__ T sigm(T x) { return T(0.5) * (T(1) + th(T(0.5) * x)); }

// `x - x` is 0 for finite x and NaN for +-inf and NaN.
template <class T> __device__ __forceinline__ bool finite(T x) { return x - x == T(0); }

// max that propagates NaN like numpy.maximum: `a` wins if it is NaN, else `b` if NaN.
template <class T> __device__ __forceinline__ T nanmax(T a, T b) { return (a > b || a != a) ? a : b; }

// Butterfly reductions over the 32 lanes of a (converged) warp; every lane gets the result.
template <class T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int off = WARP / 2; off > 0; off >>= 1) v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}
template <class T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int off = WARP / 2; off > 0; off >>= 1) v = nanmax(v, __shfl_xor_sync(FULL_MASK, v, off));
    return v;
}

// Sum over a block of NT threads (NT a multiple of 32, at most 1024); every thread gets the total.
// `buf` is NT/32 slots of shared memory. Warps reduce in registers, lane 0 of each writes its partial,
// and then every warp reduces the partials in the same order, so all threads see the same bits.
// Ends with a barrier: `buf` may be reused as soon as this returns.
template <class T, int NT> __device__ __forceinline__ T block_sum(T v, T* buf) {
    static_assert(NT % WARP == 0 && NT <= 1024, "block_sum: NT must be a multiple of 32, <= 1024");
    const int lane = threadIdx.x % WARP, w = threadIdx.x / WARP;
    v = warp_sum(v);
    if (lane == 0) buf[w] = v;
    __syncthreads();
    T r = lane < NT / WARP ? buf[lane] : T(0);
    r = warp_sum(r);
    __syncthreads();
    return r;
}

// Online softmax statistics: (m, s) with s = sum over seen x of exp(x - m) and m = their nanmax.
// Invariant: s == 0 exactly when m == -inf (nothing but -inf seen), so a rescale never computes
// exp(-inf - -inf) = NaN. `rescale(a, m)` is exp(a - m) with a == m giving exactly 1.
template <class T> __device__ __forceinline__ T rescale(T a, T m) { return a == m ? T(1) : ex(a - m); }

template <class T> __device__ __forceinline__ void online_add(T& m, T& s, T x) {
    if (x > m) {                       // new maximum: rescale what was summed so far (0 when m = -inf)
        s = s * rescale(m, x) + T(1);
        m = x;
    } else if (x != x) {               // NaN: the row's maximum is NaN (the caller recomputes the row)
        m = x;
    } else if (x > neg_inf<T>()) {     // x <= m; -inf adds exactly 0 and is skipped
        s += rescale(x, m);
    }
}

template <class T> __device__ __forceinline__ void online_merge(T& m, T& s, T m2, T s2) {
    const T mn = nanmax(m, m2);
    s = s * rescale(m, mn) + s2 * rescale(m2, mn);
    m = mn;
}

template <class T> __device__ __forceinline__ void warp_online(T& m, T& s) {
#pragma unroll
    for (int off = WARP / 2; off > 0; off >>= 1) {
        const T m2 = __shfl_xor_sync(FULL_MASK, m, off);
        const T s2 = __shfl_xor_sync(FULL_MASK, s, off);
        online_merge(m, s, m2, s2);
    }
}

// Block-wide online merge, as block_sum; `bm`, `bs` are NT/32 slots each.
template <class T, int NT> __device__ __forceinline__ void block_online(T& m, T& s, T* bm, T* bs) {
    const int lane = threadIdx.x % WARP, w = threadIdx.x / WARP;
    warp_online(m, s);
    if (lane == 0) { bm[w] = m; bs[w] = s; }
    __syncthreads();
    m = lane < NT / WARP ? bm[lane] : neg_inf<T>();
    s = lane < NT / WARP ? bs[lane] : T(0);
    warp_online(m, s);
    __syncthreads();
}

}  // namespace tc
