// Softmax family on raw, C-contiguous row-major buffers: `rows` rows of `cols` values, the
// softmax taken along each row. Same semantics as tensorcore/backends/reference.py (max-shifted,
// rows whose max is +inf follow the reference's shift-by-0 convention). Sizes and target ranges
// are validated by the caller; nothing here throws. Parallel over rows; safe without the GIL.
#pragma once

#include <cstdint>

namespace tc {

// y = softmax(x) or log_softmax(x), row-wise.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols, bool log);

// dx from y = (log_)softmax(x) and dy: softmax: y * (dy - sum(dy * y)); log: dy - exp(y) sum(dy).
template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, bool log);

// logp = log_softmax(x), losses[r] = -logp[r, target[r]]; target values must be in [0, cols).
template <typename T>
void cross_entropy_forward(const T* x, const int64_t* target, T* losses, T* logp, int64_t rows,
                           int64_t cols);

// dx = (exp(logp) - onehot(target)) * grad_losses[:, None].
template <typename T>
void cross_entropy_backward(const T* logp, const int64_t* target, const T* grad_losses, T* dx,
                            int64_t rows, int64_t cols);

}  // namespace tc
