// 2-D convolution (cross-correlation, PyTorch's conv2d without bias) on raw C-contiguous buffers:
// NCHW input, OIHW weight with O = groups * Og output channels and Cg = C / groups input channels
// per group. Same results as tensorcore/backends/reference.py up to rounding. Sizes are validated
// by the caller (csrc/bind_nn.cpp); nothing here throws except std::bad_alloc for scratch, raised
// before any thread starts. Uses up to tc::num_threads() OpenMP threads; safe without the GIL.
// Results do not depend on the thread count.
#pragma once

#include <cstdint>

namespace tc {

struct ConvShape {
    int64_t n, c, h, w;         // input
    int64_t o, kh, kw, groups;  // weight (o, c / groups, kh, kw)
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t oh, ow;             // output, (size + 2 pad - dilation (k - 1) - 1) / stride + 1

    int64_t cg() const { return c / groups; }
    int64_t og() const { return o / groups; }
    int64_t kdim() const { return cg() * kh * kw; }  // GEMM depth per group
    int64_t pixels() const { return oh * ow; }
    // A 1x1 kernel with unit stride and no padding reads the input planes as they are (no im2col).
    bool pointwise() const {
        return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
    }
};

// y (n, o, oh, ow) = conv(x, w).
template <typename T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvShape& s);

// grad_x (n, c, h, w) from w and grad_y (n, o, oh, ow).
template <typename T>
void conv2d_backward_input(const T* w, const T* gy, T* gx, const ConvShape& s);

// grad_w (o, c / groups, kh, kw) from x and grad_y.
template <typename T>
void conv2d_backward_weight(const T* x, const T* gy, T* gw, const ConvShape& s);

}  // namespace tc
