// Elementwise kernels: one fused pass, read each input once and write the output once.
//
// These are memory-bound (one arithmetic operation per 8-12 bytes moved), so the gain over NumPy
// comes from fusion and threads, not arithmetic: relu_backward is `grad_y * (x > 0)` in the
// reference, two passes with a boolean temporary plus a bool -> float promotion; here it is one
// pass. Work is split into one contiguous range per thread once it is large enough to pay for
// waking the threads (parallel_ranges); each range runs a multiversioned (AVX-512 / AVX2 /
// baseline) vectorized loop.
#include "elementwise.h"

#include "cpu_features.h"
#include "parallel.h"

namespace tc {
namespace {

// ~64 KiB per thread of float32 input: below that, one thread finishes before others wake.
constexpr int64_t kMinPerThread = 1 << 14;

template <typename T>
TC_MULTIVERSION void relu_range(const T* x, T* y, int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];  // NaN < 0 is false
}

template <typename T>
TC_MULTIVERSION void relu_backward_range(const T* x, const T* dy, T* dx, int64_t i0, int64_t i1) {
    // A multiply, not a select, so inf/NaN gradients at x <= 0 give NaN as in the reference.
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * (x[i] > T(0) ? T(1) : T(0));
}

template <typename T>
TC_MULTIVERSION void add_range(const T* a, const T* b, T* y, int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) y[i] = a[i] + b[i];
}

template <typename T>
TC_MULTIVERSION void add_row_range(const T* a, const T* b, T* y, int64_t r0, int64_t r1,
                                   int64_t cols) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* ar = a + r * cols;
        T* yr = y + r * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) yr[j] = ar[j] + b[j];
    }
}

}  // namespace

template <typename T>
void relu_forward(const T* x, T* y, int64_t n) {
    parallel_ranges(n, kMinPerThread, [=](int64_t i0, int64_t i1) { relu_range<T>(x, y, i0, i1); });
}

template <typename T>
void relu_backward(const T* x, const T* dy, T* dx, int64_t n) {
    parallel_ranges(n, kMinPerThread,
                    [=](int64_t i0, int64_t i1) { relu_backward_range<T>(x, dy, dx, i0, i1); });
}

template <typename T>
void add_same(const T* a, const T* b, T* y, int64_t n) {
    parallel_ranges(n, kMinPerThread, [=](int64_t i0, int64_t i1) { add_range<T>(a, b, y, i0, i1); });
}

template <typename T>
void add_row(const T* a, const T* b, T* y, int64_t rows, int64_t cols) {
    const int64_t min_rows = std::max<int64_t>(1, kMinPerThread / std::max<int64_t>(cols, 1));
    parallel_ranges(rows, min_rows,
                    [=](int64_t r0, int64_t r1) { add_row_range<T>(a, b, y, r0, r1, cols); });
}

#define TC_INSTANTIATE(T)                                                      \
    template void relu_forward<T>(const T*, T*, int64_t);                     \
    template void relu_backward<T>(const T*, const T*, T*, int64_t);          \
    template void add_same<T>(const T*, const T*, T*, int64_t);               \
    template void add_row<T>(const T*, const T*, T*, int64_t, int64_t);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc
