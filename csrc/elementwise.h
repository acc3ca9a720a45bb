// Elementwise entries of a training step, on raw C-contiguous buffers of n elements. Same results
// as tensorcore/backends/reference.py, bit for bit (one IEEE operation per element). Sizes are
// validated by the caller; nothing here throws. Parallel for large n; safe without the GIL.
#pragma once

#include <cstdint>

namespace tc {

template <typename T>
void relu_forward(const T* x, T* y, int64_t n);  // max(x, 0); NaN stays NaN

template <typename T>
void relu_backward(const T* x, const T* dy, T* dx, int64_t n);  // dy * (x > 0)

template <typename T>
void add_same(const T* a, const T* b, T* y, int64_t n);  // y = a + b, equal shapes

// y[r, :] = a[r, :] + b for `rows` rows of `cols` values: the bias add of a linear layer.
template <typename T>
void add_row(const T* a, const T* b, T* y, int64_t rows, int64_t cols);

}  // namespace tc
