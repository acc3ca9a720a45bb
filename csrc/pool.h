// 2-D max and average pooling on raw C-contiguous NCHW buffers, forward and backward, with the
// conventions of tensorcore/backends/reference.py: floor output sizes, no dilation, max-pool
// indices as flat offsets h * W + w into each input plane, ties to the first maximum in row-major
// window order, a NaN is its window's maximum (the first NaN), average pooling over the
// zero-padded window (count_include_pad) or over its real elements only. The caller validates
// sizes (every window holds at least one real element: 2 * padding <= kernel) and, for the max
// backward, that every index is inside its plane (max_pool_first_bad_index). Nothing here throws
// except std::bad_alloc; parallel over planes with tc::num_threads(); safe without the GIL.
#pragma once

#include <cstdint>

namespace tc {

struct PoolShape {
    int64_t planes, h, w;  // N * C input planes of h x w
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t oh, ow;
};

template <typename T>
void max_pool_forward(const T* x, T* y, int64_t* index, const PoolShape& s);

// The position of the first index outside [0, h*w), or -1 if all are valid (n indices).
int64_t max_pool_first_bad_index(const int64_t* index, int64_t n, int64_t hw);

// grad_x = scatter-add of grad_y through index (planes x oh*ow) onto planes x hw.
template <typename T>
void max_pool_backward(const T* gy, const int64_t* index, T* gx, int64_t planes, int64_t ohw,
                       int64_t hw);

template <typename T>
void avg_pool_forward(const T* x, T* y, const PoolShape& s, bool count_include_pad);

template <typename T>
void avg_pool_backward(const T* gy, T* gx, const PoolShape& s, bool count_include_pad);

}  // namespace tc
