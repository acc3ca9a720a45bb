// The fused LSTM cell on raw C-contiguous buffers, PyTorch's gate order (input, forget, cell,
// output), same results as tensorcore/backends/reference.py up to rounding:
//
//   gates = x @ w_ih^T + h @ w_hh^T + b        (N, 4H), then activated in place:
//   i, f, o = sigmoid(.), g = tanh(.);  c' = f*c + i*g;  h' = o * tanh(c')
//
// x (N, I), h and c (N, H), w_ih (4H, I), w_hh (4H, H), b (4H,). Sizes are validated by the
// caller; nothing here throws except std::bad_alloc for scratch (before any thread starts).
// Uses up to tc::num_threads() OpenMP threads; safe without the GIL; results do not depend on the
// thread count.
#pragma once

#include <cstdint>

namespace tc {

struct LstmShape {
    int64_t n, in, hid;  // batch, input size, hidden size
};

// Writes h_new, c_new (N, H) and the activated gates (N, 4H).
template <typename T>
void lstm_cell_forward(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                       const T* b, T* h_new, T* c_new, T* gates, const LstmShape& s);

// From the forward's inputs, its activated gates and the gradients of h' and c': dx (N, I),
// dh (N, H), dc (N, H), dw_ih (4H, I), dw_hh (4H, H), db (4H,).
template <typename T>
void lstm_cell_backward(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                        const T* gates, const T* grad_h, const T* grad_c, T* dx, T* dh, T* dc,
                        T* dw_ih, T* dw_hh, T* db, const LstmShape& s);

}  // namespace tc
