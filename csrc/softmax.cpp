// Softmax, log-softmax and fused cross-entropy, forward and backward.
//
// Strategy: one thread per contiguous range of rows; within a row, loops the compiler vectorizes
// (exp is tc::exp_vec, branch-free, so `omp simd` loops over it vectorize), compiled once per
// ISA level by TC_MULTIVERSION. These kernels are memory-bound for rows longer than a few dozen
// values, so the cost model is passes over the row:
//
//   softmax forward      online max and sum (Milakov & Gimelshein 2018), over blocks of the row:
//                        for each block, its max updates the running max m (rescaling the running
//                        sum s by exp(m_old - m_new)), then the block's exp(x - m) is written to y
//                        and added to s. A second pass multiplies each block of y by
//                        exp(m_block - m_final) / s. x is read from memory once (the block max
//                        and the exp pass both hit the block in L1), y written twice, one exp per
//                        element. A row of at most one block is the classic max/exp-sum/scale.
//   log_softmax forward  the same online pass without storing (s only), then y = (x - m) - log s:
//                        two reads of x, one write, one exp per element.
//   backward             one reduction pass (sum(dy*y) or sum(dy)) and one output pass.
//   cross_entropy        log_softmax into logp plus one gather; backward is one pass writing
//                        exp(logp) * g and a fix-up of the target column.
//
// Compared with the reference's NumPy expression chains (each op a full pass plus a temporary)
// this reads each input once or twice and allocates nothing but the outputs.
#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu_features.h"
#include "parallel.h"
#include "vec_math.h"

namespace tc {
namespace {

// Acc: row sums accumulate in double, also for float32. A vector of float lanes each summing
// n/W terms in sequence loses ~sqrt(n/W) eps relative (measured: 30x the reference's pairwise
// error at n = 140k); double keeps sums at float32 accuracy for any row length, and converting is
// free next to the memory traffic.

// Rows shorter than this many elements per thread run on one thread (see parallel_ranges).
constexpr int64_t kMinElementsPerThread = 1 << 15;
// Online blocks: at least kMinBlock values (amortises the per-block rescale exp), and at most
// kMaxBlocks per row so the per-block maxima fit in a small array on the stack.
constexpr int64_t kMinBlock = 512;
constexpr int64_t kMaxBlocks = 256;
// The exp sums add kChunk values per vector-lane set in T (at most kChunk / W terms per lane, so
// float32 keeps ~sqrt(64) eps accuracy with 16 lanes), then the chunk sums in double.
constexpr int64_t kChunk = 1024;

inline int64_t min_rows_per_thread(int64_t cols) {
    return std::max<int64_t>(1, kMinElementsPerThread / std::max<int64_t>(cols, 1));
}

template <typename T>
TC_ALWAYS_INLINE T block_max(const T* x, int64_t n) {
    T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

// The online pass over one row: returns the row max m and s = sum(exp(x - m)). With kStore, y
// receives exp(x - m_b) where m_b is the running max when block b was visited (kept in
// block_m[b]), to be rescaled by the caller. A NaN anywhere makes s NaN; an all -inf row ends
// with m = -inf and s = 0, and the callers' x - m (or exp(m_b - m)) gives NaN, as the
// reference's 0/0 does.
template <typename T, bool kStore>
TC_ALWAYS_INLINE void online_pass(const T* x, T* y, int64_t n, int64_t block, T* block_m, T* m_out,
                                  T* s_out) {
    T m = -std::numeric_limits<T>::infinity(), s = 0;
    for (int64_t i0 = 0, b = 0; i0 < n; i0 += block, ++b) {
        const int64_t len = std::min(block, n - i0);
        const T bm = block_max(x + i0, len);
        if (bm > m) {
            s *= exp_vec(m - bm);  // exp(-inf) = 0 on the first block, where s is 0 anyway
            m = bm;
        }
        // While every value so far is -inf, shift by 0 (exp(-inf) = 0) rather than by m, whose
        // -inf - -inf would be NaN; block_m[b] = -inf then scales those zeros by exp(-inf) = 0.
        const T shift = m == -std::numeric_limits<T>::infinity() ? T(0) : m;
        double bs = 0;  // see Acc above
        for (int64_t c0 = 0; c0 < len; c0 += kChunk) {
            const int64_t cl = std::min(kChunk, len - c0);
            const T* xc = x + i0 + c0;
            T cs = 0;  // a short sum in T: a float-to-double reduction stops GCC vectorizing
#pragma omp simd reduction(+ : cs)
            for (int64_t j = 0; j < cl; ++j) {
                const T e = exp_vec(xc[j] - shift);
                if (kStore) y[i0 + c0 + j] = e;
                cs += e;
            }
            bs += cs;
        }
        s += static_cast<T>(bs);
        if (kStore) block_m[b] = m;
    }
    *m_out = m;
    *s_out = s;
}

// A row whose max is +inf: the reference shifts it by 0 instead (so inf/inf = NaN at the inf
// entries and 0 elsewhere for softmax). Rare, so plain libm.
template <typename T>
void infinite_row(const T* x, T* y, int64_t n, bool log) {
    T s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(x[j]);
    for (int64_t j = 0; j < n; ++j) y[j] = log ? x[j] - std::log(s) : std::exp(x[j]) / s;
}

template <typename T>
TC_ALWAYS_INLINE void log_softmax_row(const T* x, T* y, int64_t n) {
    T m, s;
    online_pass<T, false>(x, nullptr, n, n, nullptr, &m, &s);  // no storing: one block
    if (m == std::numeric_limits<T>::infinity()) return infinite_row(x, y, n, true);
    const T log_s = std::log(s);
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) - log_s;
}

template <typename T>
TC_ALWAYS_INLINE void softmax_row(const T* x, T* y, int64_t n) {
    const int64_t block = std::max(kMinBlock, (n + kMaxBlocks - 1) / kMaxBlocks);
    T block_m[kMaxBlocks];
    T m, s;
    online_pass<T, true>(x, y, n, block, block_m, &m, &s);
    if (m == std::numeric_limits<T>::infinity()) return infinite_row(x, y, n, false);
    const T inv_s = T(1) / s;
    for (int64_t i0 = 0, b = 0; i0 < n; i0 += block, ++b) {
        const int64_t len = std::min(block, n - i0);
        const T f = exp_vec(block_m[b] - m) * inv_s;
        T* yb = y + i0;
#pragma omp simd
        for (int64_t j = 0; j < len; ++j) yb[j] *= f;
    }
}

// ---- row-range kernels: the multiversioned functions (one clone per ISA level)

template <typename T>
TC_MULTIVERSION void softmax_rows(const T* x, T* y, int64_t r0, int64_t r1, int64_t n, bool log) {
    for (int64_t r = r0; r < r1; ++r) {
        if (log) {
            log_softmax_row(x + r * n, y + r * n, n);
        } else {
            softmax_row(x + r * n, y + r * n, n);
        }
    }
}

template <typename T>
TC_MULTIVERSION void softmax_backward_rows(const T* y, const T* dy, T* dx, int64_t r0, int64_t r1,
                                           int64_t n, bool log) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* yr = y + r * n;
        const T* gr = dy + r * n;
        T* dr = dx + r * n;
        double acc = 0;  // see Acc above
        if (log) {
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < n; ++j) acc += gr[j];
            const T sum = static_cast<T>(acc);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) dr[j] = gr[j] - exp_vec(yr[j]) * sum;
        } else {
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < n; ++j) acc += gr[j] * yr[j];
            const T dot = static_cast<T>(acc);
#pragma omp simd
            for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - dot);
        }
    }
}

template <typename T>
TC_MULTIVERSION void cross_entropy_rows(const T* x, const int64_t* target, T* losses, T* logp,
                                        int64_t r0, int64_t r1, int64_t n) {
    for (int64_t r = r0; r < r1; ++r) {
        log_softmax_row(x + r * n, logp + r * n, n);
        losses[r] = -logp[r * n + target[r]];
    }
}

template <typename T>
TC_MULTIVERSION void cross_entropy_backward_rows(const T* logp, const int64_t* target, const T* g,
                                                 T* dx, int64_t r0, int64_t r1, int64_t n) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* lr = logp + r * n;
        T* dr = dx + r * n;
        const T gr = g[r];
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) dr[j] = exp_vec(lr[j]) * gr;
        const int64_t t = target[r];
        dr[t] = (exp_vec(lr[t]) - T(1)) * gr;  // the reference's (softmax - onehot) * g
    }
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
    parallel_ranges(rows, min_rows_per_thread(cols),
                    [=](int64_t r0, int64_t r1) { softmax_rows<T>(x, y, r0, r1, cols, log); });
}

template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, bool log) {
    parallel_ranges(rows, min_rows_per_thread(cols), [=](int64_t r0, int64_t r1) {
        softmax_backward_rows<T>(y, dy, dx, r0, r1, cols, log);
    });
}

template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, T* losses, T* logp, int64_t rows,
                           int64_t cols) {
    parallel_ranges(rows, min_rows_per_thread(cols), [=](int64_t r0, int64_t r1) {
        cross_entropy_rows<T>(x, target, losses, logp, r0, r1, cols);
    });
}

template <typename T>
void cross_entropy_backward(const T* logp, const int64_t* target, const T* grad_losses, T* dx,
                            int64_t rows, int64_t cols) {
    parallel_ranges(rows, min_rows_per_thread(cols), [=](int64_t r0, int64_t r1) {
        cross_entropy_backward_rows<T>(logp, target, grad_losses, dx, r0, r1, cols);
    });
}

#define TC_INSTANTIATE(T)                                                                       \
    template void softmax_forward<T>(const T*, T*, int64_t, int64_t, bool);                    \
    template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, bool);         \
    template void cross_entropy_forward<T>(const T*, const int64_t*, T*, T*, int64_t, int64_t); \
    template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, T*, int64_t,   \
                                            int64_t);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc
