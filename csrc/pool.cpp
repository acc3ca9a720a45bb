// Pooling: direct loops, one pass over the input per pass over the output (the windows of the
// course's CNN do not overlap), parallel over the N*C planes in contiguous ranges.
//
// The reference materializes the (N, C, OH, OW, KH*KW) window view for the max (one copy of the
// input, KH*KW/(SH*SW) times larger in general) and needs an argmax, a gather and index arithmetic
// on top; the backward is numpy.add.at, a slow unbuffered scatter. Here the max forward reads each
// window in place and writes value and index once; the backward zeroes each plane and adds each
// output gradient into it -- planes are disjoint, so threads never collide and the result does not
// depend on the thread count. Windows are clamped to the image (no padded copy): max pooling's
// -inf padding can never win, average pooling's zeros add nothing.
//
// The common 2x2 / stride 2 / no padding case has its own loops over an output row (four loads,
// three selects per output for the max, three adds for the mean), which the compiler vectorizes
// per ISA level (TC_MULTIVERSION).
#include "pool.h"

#include <algorithm>
#include <cstdint>

#include "cpu_features.h"
#include "parallel.h"

namespace tc {
namespace {

// Planes per thread so that each gets at least ~16K input elements.
inline int64_t min_planes(const PoolShape& s) {
    return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(s.h * s.w, 1));
}

// Whether v replaces the current maximum m: strictly greater (ties keep the first), or the first
// NaN (NaN compares false with everything; once m is NaN nothing replaces it).
template <typename T>
inline bool takes_max(T v, T m) {
    return v > m || (v != v && m == m);
}

// 2x2 windows, stride 2, no padding, on nv outputs from two input rows in local buffers, nv a
// multiple of 16 (the caller pads): every iteration runs in the vector loop, since the scalar
// remainder of a short row (13 outputs in the course's CNN) compiles to branches that random
// data mispredicts -- measured 5 ns per output before. The winner's position in its window is
// kept as a 32-bit code (0..3) so values and codes have the same lane width.
template <typename T>
TC_MULTIVERSION void max_pool_2x2_block(const T* r0, const T* r1, T* y, int32_t* code,
                                        int64_t* idx, int64_t base, int64_t w, int64_t n,
                                        int64_t nv) {
#pragma omp simd
    for (int64_t ox = 0; ox < nv; ++ox) {
        const T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        T m = a;
        int32_t k = 0;
        const bool tb = b > m || (b != b && m == m);
        m = tb ? b : m;
        k = tb ? 1 : k;
        const bool tc_ = c > m || (c != c && m == m);
        m = tc_ ? c : m;
        k = tc_ ? 2 : k;
        const bool td = d > m || (d != d && m == m);
        m = td ? d : m;
        k = td ? 3 : k;
        y[ox] = m;
        code[ox] = k;
    }
    // The codes as int64 offsets in the plane: base + 2*ox, + 1 for the right column, + w for
    // the lower row (selects, not a 64-bit multiply, so this loop vectorizes too).
#pragma omp simd
    for (int64_t ox = 0; ox < n; ++ox) {
        const int32_t k = code[ox];
        idx[ox] = base + 2 * ox + (k & 1) + (k >= 2 ? w : 0);
    }
}

// One output row of the 2x2 / stride 2 case, in chunks through padded local buffers.
template <typename T>
void max_pool_2x2_row(const T* r0, const T* r1, T* y, int64_t* idx, int64_t base, int64_t w,
                      int64_t ow) {
    constexpr int64_t kChunk = 128;
    alignas(64) T in0[2 * kChunk], in1[2 * kChunk], out[kChunk];
    alignas(64) int32_t code[kChunk];
    for (int64_t o0 = 0; o0 < ow; o0 += kChunk) {
        const int64_t n = std::min(kChunk, ow - o0), nv = (n + 15) / 16 * 16;
        std::copy(r0 + 2 * o0, r0 + 2 * (o0 + n), in0);
        std::copy(r1 + 2 * o0, r1 + 2 * (o0 + n), in1);
        std::fill(in0 + 2 * n, in0 + 2 * nv, T(0));
        std::fill(in1 + 2 * n, in1 + 2 * nv, T(0));
        max_pool_2x2_block(in0, in1, out, code, idx + o0, base + 2 * o0, w, n, nv);
        std::copy(out, out + n, y + o0);
    }
}

template <typename T>
void max_pool_plane(const T* x, T* y, int64_t* index, const PoolShape& s) {
    if (s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0) {
        for (int64_t oy = 0; oy < s.oh; ++oy) {
            const int64_t base = 2 * oy * s.w;
            max_pool_2x2_row(x + base, x + base + s.w, y + oy * s.ow, index + oy * s.ow, base,
                             s.w, s.ow);
        }
        return;
    }
    for (int64_t oy = 0; oy < s.oh; ++oy) {
        const int64_t y0 = oy * s.sh - s.ph;
        const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + s.kh, s.h);
        for (int64_t ox = 0; ox < s.ow; ++ox) {
            const int64_t x0 = ox * s.sw - s.pw;
            const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + s.kw, s.w);
            int64_t best = ya * s.w + xa;
            T m = x[best];
            for (int64_t iy = ya; iy < yb; ++iy) {
                for (int64_t ix = xa; ix < xb; ++ix) {
                    const T v = x[iy * s.w + ix];
                    if (takes_max(v, m)) {
                        m = v;
                        best = iy * s.w + ix;
                    }
                }
            }
            y[oy * s.ow + ox] = m;
            index[oy * s.ow + ox] = best;
        }
    }
}

// Average of 2x2 windows, stride 2, no padding: one output row (no branches, so the loop and its
// remainder vectorize). Same summation order as the general loop.
template <typename T>
TC_MULTIVERSION void avg_pool_2x2_row(const T* r0, const T* r1, T* y, int64_t ow) {
#pragma omp simd
    for (int64_t ox = 0; ox < ow; ++ox)
        y[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) / T(4);
}

// Real (unpadded) rows or columns of window o along one axis.
inline int64_t window_count(int64_t o, int64_t size, int64_t k, int64_t stride, int64_t pad) {
    const int64_t start = o * stride - pad;
    return std::min(start + k, size) - std::max<int64_t>(start, 0);
}

template <typename T>
T divisor(const PoolShape& s, int64_t oy, int64_t ox, bool count_include_pad) {
    if (count_include_pad) return static_cast<T>(s.kh * s.kw);
    return static_cast<T>(window_count(oy, s.h, s.kh, s.sh, s.ph) *
                          window_count(ox, s.w, s.kw, s.sw, s.pw));
}

}  // namespace

template <typename T>
void max_pool_forward(const T* x, T* y, int64_t* index, const PoolShape& s) {
    const int64_t hw = s.h * s.w, ohw = s.oh * s.ow;
    parallel_ranges(s.planes, min_planes(s), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p)
            max_pool_plane(x + p * hw, y + p * ohw, index + p * ohw, s);
    });
}

int64_t max_pool_first_bad_index(const int64_t* index, int64_t n, int64_t hw) {
    for (int64_t i = 0; i < n; ++i)
        if (index[i] < 0 || index[i] >= hw) return i;
    return -1;
}

template <typename T>
void max_pool_backward(const T* gy, const int64_t* index, T* gx, int64_t planes, int64_t ohw,
                       int64_t hw) {
    const int64_t min = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(hw, 1));
    parallel_ranges(planes, min, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* plane = gx + p * hw;
            const T* g = gy + p * ohw;
            const int64_t* idx = index + p * ohw;
            std::fill(plane, plane + hw, T(0));
            for (int64_t i = 0; i < ohw; ++i) plane[idx[i]] += g[i];
        }
    });
}

template <typename T>
void avg_pool_forward(const T* x, T* y, const PoolShape& s, bool count_include_pad) {
    const int64_t hw = s.h * s.w, ohw = s.oh * s.ow;
    parallel_ranges(s.planes, min_planes(s), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* xp = x + p * hw;
            T* yp = y + p * ohw;
            if (s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0) {
                for (int64_t oy = 0; oy < s.oh; ++oy)
                    avg_pool_2x2_row(xp + 2 * oy * s.w, xp + (2 * oy + 1) * s.w, yp + oy * s.ow,
                                     s.ow);
                continue;
            }
            for (int64_t oy = 0; oy < s.oh; ++oy) {
                const int64_t y0 = oy * s.sh - s.ph;
                const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + s.kh, s.h);
                for (int64_t ox = 0; ox < s.ow; ++ox) {
                    const int64_t x0 = ox * s.sw - s.pw;
                    const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + s.kw, s.w);
                    T sum = 0;
                    for (int64_t iy = ya; iy < yb; ++iy)
                        for (int64_t ix = xa; ix < xb; ++ix) sum += xp[iy * s.w + ix];
                    yp[oy * s.ow + ox] = sum / divisor<T>(s, oy, ox, count_include_pad);
                }
            }
        }
    });
}

template <typename T>
void avg_pool_backward(const T* gy, T* gx, const PoolShape& s, bool count_include_pad) {
    const int64_t hw = s.h * s.w, ohw = s.oh * s.ow;
    parallel_ranges(s.planes, min_planes(s), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* gp = gx + p * hw;
            const T* g = gy + p * ohw;
            std::fill(gp, gp + hw, T(0));
            for (int64_t oy = 0; oy < s.oh; ++oy) {
                const int64_t y0 = oy * s.sh - s.ph;
                const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + s.kh, s.h);
                for (int64_t ox = 0; ox < s.ow; ++ox) {
                    const int64_t x0 = ox * s.sw - s.pw;
                    const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + s.kw, s.w);
                    const T v = g[oy * s.ow + ox] / divisor<T>(s, oy, ox, count_include_pad);
                    for (int64_t iy = ya; iy < yb; ++iy)
                        for (int64_t ix = xa; ix < xb; ++ix) gp[iy * s.w + ix] += v;
                }
            }
        }
    });
}

#define TC_INSTANTIATE(T)                                                                   \
    template void max_pool_forward<T>(const T*, T*, int64_t*, const PoolShape&);           \
    template void max_pool_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t,     \
                                       int64_t);                                           \
    template void avg_pool_forward<T>(const T*, T*, const PoolShape&, bool);               \
    template void avg_pool_backward<T>(const T*, T*, const PoolShape&, bool);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc
