// 2-D convolution as im2col + the packed GEMM of csrc/matmul.cpp (through its internal gemm API,
// the same micro-kernels and packing as tensorcore._C.matmul).
//
// Per image n and group g, with K = Cg*KH*KW (the reduction) and P = OH*OW (output pixels):
//
//   forward      y[n, g] (Og x P)  = W[g] (Og x K)  @ cols(n, g) (K x P)
//   grad_x       dcols   (K x P)   = W[g]^T          @ grad_y[n, g] (Og x P),  then col2im
//   grad_w       dW[g]^T (K x Og)  = sum_n cols(n, g) @ grad_y[n, g]^T
//
// cols(n, g) is the column matrix of one image's group (row (ci, a, b), column (oy, ox)), built
// per image into per-thread scratch that stays in L2 until the GEMM reads it (course layer 2:
// 25*9 x 11*11 floats = 109 KiB); the reference builds the column matrix of the whole batch at
// once (N times that) and reads it back from memory. The forward writes it straight into the
// GEMM's packed B micro-panels, and the weights (W[g], or W[g]^T for grad_x) are packed once per
// call rather than once per image. A 1x1 kernel with unit stride and no padding needs no im2col
// for grad_x and grad_w: the input planes are the matrix.
//
// Parallelism: forward and grad_x give whole (image, group) tasks to threads, each with its own
// scratch and a single-threaded GEMM (no barriers; every task writes a disjoint part of the
// output). When there are fewer tasks than threads (one large image), tasks run one after another
// and each GEMM uses the whole team instead. grad_w sums over images: the batch is cut into a
// fixed number of image chunks (set by the shape, at most 8, while the partial sums fit in
// 8 MiB), each task sums its chunk's images in order into its own partial dW^T, and the partials
// are added in chunk order at the end. A layer too large for more than one chunk splits the rows
// of dW[g]^T (ranges of (ci, a, b)) across threads instead: each task builds only its rows of
// each image's column matrix. Every output element therefore has one fixed summation order:
// results are bitwise identical for any thread count.
//
// Orientation of grad_w: dW^T (K x Og) rather than dW (Og x K) puts the larger of the two small
// dimensions on the micro-tile's MR side for the first layer of a CNN (K = 9, Og = 25), and the
// transposed result is written to dW once at the end (K*Og elements).
#include "conv.h"

#include <algorithm>
#include <cstddef>

#include "buffer.h"
#include "matmul.h"
#include "parallel.h"

namespace tc {
namespace {

constexpr int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
constexpr int64_t kAlignElems = 16;  // keep per-thread scratch slices 64-byte aligned (float32)
constexpr int64_t round_up(int64_t x) { return ceil_div(x, kAlignElems) * kAlignElems; }

// Output columns [lo, hi) whose input column ox*stride + off lies inside [0, size).
inline void valid_range(int64_t out, int64_t size, int64_t stride, int64_t off, int64_t* lo,
                        int64_t* hi) {
    int64_t l = off >= 0 ? 0 : ceil_div(-off, stride);
    int64_t h = size - 1 - off < 0 ? 0 : (size - 1 - off) / stride + 1;
    l = std::min(l, out);
    h = std::max(std::min(h, out), l);
    *lo = l;
    *hi = h;
}

// Rows [r0, r1) of the column matrix of one image's group into cols (row stride P): row r is
// (ci, a, b) = (r / (KH*KW), r / KW % KH, r % KW), column p = oy*OW + ox, value
// x[ci, oy*sh - ph + a*dh, ox*sw - pw + b*dw], or 0 where that falls in the padding. x points at
// the group's first input plane.
template <typename T>
void im2col(const T* x, const ConvShape& s, int64_t r0, int64_t r1, T* cols) {
    const int64_t P = s.pixels();
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t ci = r / (s.kh * s.kw), a = r / s.kw % s.kh, b = r % s.kw;
        const T* plane = x + ci * s.h * s.w;
        T* dst = cols + (r - r0) * P;
        const int64_t xoff = b * s.dw - s.pw;
        int64_t lo, hi;
        valid_range(s.ow, s.w, s.sw, xoff, &lo, &hi);
        for (int64_t oy = 0; oy < s.oh; ++oy, dst += s.ow) {
            const int64_t iy = oy * s.sh - s.ph + a * s.dh;
            if (iy < 0 || iy >= s.h) {
                std::fill(dst, dst + s.ow, T(0));
                continue;
            }
            const T* row = plane + iy * s.w + xoff;  // row[ox * sw] is the input, for lo <= ox < hi
            std::fill(dst, dst + lo, T(0));
            if (s.sw == 1) {
                std::copy(row + lo, row + hi, dst + lo);
            } else {
                for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = row[ox * s.sw];
            }
            std::fill(dst + hi, dst + s.ow, T(0));
        }
    }
}

// The whole column matrix of one image's group written straight into the packed-B layout of
// the GEMM (csrc/matmul.h, PackLayout): each row goes through row_buf (P elements, in L1) and is
// then cut into micro-panel rows, with the columns past P zero. Saves writing the K x P column
// matrix and reading it back to pack it.
template <typename T>
void im2col_packed(const T* x, const ConvShape& s, const PackLayout& L, T* row_buf, T* out) {
    const int64_t P = s.pixels(), K = s.kdim();
    const int64_t np = ceil_div(P, L.nr) * L.nr;
    for (int64_t r = 0; r < K; ++r) {
        const int64_t pc = r / L.kc * L.kc, kcb = std::min(L.kc, K - pc);
        im2col(x, s, r, r + 1, row_buf);
        T* dst = out + pc * np + (r - pc) * L.nr;
        for (int64_t j0 = 0; j0 < P; j0 += L.nr, dst += kcb * L.nr) {
            const int64_t cols = std::min(L.nr, P - j0);
            std::copy(row_buf + j0, row_buf + j0 + cols, dst);
            std::fill(dst + cols, dst + L.nr, T(0));
        }
    }
}

// The adjoint of im2col for all K rows: x[ci, iy, ix] += cols[r, p] over every (r, p) that read
// (ci, iy, ix). x points at the group's first plane and must be initialised (zeros).
template <typename T>
void col2im(const T* cols, const ConvShape& s, T* x) {
    const int64_t P = s.pixels(), K = s.kdim();
    for (int64_t r = 0; r < K; ++r) {
        const int64_t ci = r / (s.kh * s.kw), a = r / s.kw % s.kh, b = r % s.kw;
        T* plane = x + ci * s.h * s.w;
        const T* src = cols + r * P;
        const int64_t xoff = b * s.dw - s.pw;
        int64_t lo, hi;
        valid_range(s.ow, s.w, s.sw, xoff, &lo, &hi);
        for (int64_t oy = 0; oy < s.oh; ++oy, src += s.ow) {
            const int64_t iy = oy * s.sh - s.ph + a * s.dh;
            if (iy < 0 || iy >= s.h) continue;
            T* row = plane + iy * s.w + xoff;
            if (s.sw == 1) {
#pragma omp simd
                for (int64_t ox = lo; ox < hi; ++ox) row[ox] += src[ox];
            } else {
                for (int64_t ox = lo; ox < hi; ++ox) row[ox * s.sw] += src[ox];
            }
        }
    }
}

// Threads worth using for `flops` of work in `tasks` independent pieces (~1 Mflop per thread
// at least: waking a thread costs a few microseconds).
int threads_for(double flops, int64_t tasks) {
    const int64_t by_work = std::max<int64_t>(1, static_cast<int64_t>(flops / 1.0e6));
    const int64_t threads = std::min<int64_t>({num_threads(), tasks, by_work});
    return static_cast<int>(std::max<int64_t>(1, threads));
}

// Runs task(t, scratch) for t in [0, tasks) on `threads` threads, each with its own scratch of
// `per_thread` elements. task must not throw.
template <typename T, class F>
void for_tasks(int64_t tasks, int threads, int64_t per_thread, F&& task) {
    per_thread = round_up(per_thread);
    AlignedBuffer<T> buf(static_cast<std::size_t>(per_thread * threads));
    if (threads <= 1) {
        for (int64_t t = 0; t < tasks; ++t) task(t, buf.ptr);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        T* scratch = buf.ptr + thread_id() * per_thread;
#pragma omp for schedule(dynamic)
        for (int64_t t = 0; t < tasks; ++t) task(t, scratch);
    }
#endif
}

}  // namespace

template <typename T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvShape& s) {
    const int64_t P = s.pixels(), K = s.kdim(), Og = s.og(), Cg = s.cg();
    const int64_t tasks = s.n * s.groups;
    if (tasks == 0 || P == 0 || s.o == 0) return;
    const int threads = threads_for(2.0 * tasks * Og * P * K, tasks);
    auto group_x = [&](int64_t t) {
        return x + (t / s.groups * s.c + t % s.groups * Cg) * s.h * s.w;  // x[n, g*Cg]
    };
    auto group_y = [&](int64_t t) { return y + (t / s.groups * s.o + t % s.groups * Og) * P; };
    if (tasks >= num_threads() || threads == 1) {
        // The weights of every group packed once, shared read-only by all tasks; per task the
        // column matrix goes straight into packed micro-panels.
        const PackLayout L = pack_layout<T>();
        const int64_t wg = round_up(ceil_div(Og, L.mr) * L.mr * K);
        AlignedBuffer<T> wp(static_cast<std::size_t>(wg * s.groups));
        for (int64_t g = 0; g < s.groups; ++g)
            pack_a_full(w + g * Og * K, K, false, Og, K, wp.ptr + g * wg);
        const int64_t bsize = round_up(ceil_div(P, L.nr) * L.nr * K);
        for_tasks<T>(tasks, threads, bsize + round_up(P), [&](int64_t t, T* scratch) {
            im2col_packed(group_x(t), s, L, scratch + bsize, scratch);
            gemm_prepacked(Og, P, K, wp.ptr + t % s.groups * wg, scratch, group_y(t), P, false);
        });
        return;
    }
    // Fewer tasks than threads (a large image): one after another, each GEMM on the whole team.
    const bool direct = s.pointwise();
    AlignedBuffer<T> cols(static_cast<std::size_t>(direct ? 0 : K * P));
    for (int64_t t = 0; t < tasks; ++t) {
        if (!direct) im2col(group_x(t), s, 0, K, cols.ptr);
        const T* b = direct ? group_x(t) : cols.ptr;
        gemm(GemmArgs<T>{Og, P, K, w + t % s.groups * Og * K, K, false, b, P, false, group_y(t), P,
                         false},
             num_threads());
    }
}

template <typename T>
void conv2d_backward_input(const T* w, const T* gy, T* gx, const ConvShape& s) {
    const int64_t P = s.pixels(), K = s.kdim(), Og = s.og(), Cg = s.cg();
    const int64_t tasks = s.n * s.groups;
    if (tasks == 0 || Cg == 0 || s.h * s.w == 0) return;
    const bool direct = s.pointwise();
    const int threads = threads_for(2.0 * tasks * Og * P * K, tasks);
    auto group_gx = [&](int64_t t) {
        return gx + (t / s.groups * s.c + t % s.groups * Cg) * s.h * s.w;
    };
    auto group_gy = [&](int64_t t) { return gy + (t / s.groups * s.o + t % s.groups * Og) * P; };
    // dcols (K x P) -> grad_x planes of the group (zeroed first); nothing to do for 1x1 kernels,
    // whose GEMM writes grad_x directly.
    auto scatter = [&](int64_t t, const T* dcols) {
        T* plane = group_gx(t);
        std::fill(plane, plane + Cg * s.h * s.w, T(0));
        col2im(dcols, s, plane);
    };
    if (tasks >= num_threads() || threads == 1) {
        // W[g]^T packed once per group; per task grad_y[n, g] packed, dcols = W^T @ grad_y.
        const PackLayout L = pack_layout<T>();
        const int64_t wg = round_up(ceil_div(K, L.mr) * L.mr * Og);
        AlignedBuffer<T> wp(static_cast<std::size_t>(wg * s.groups));
        for (int64_t g = 0; g < s.groups; ++g)
            pack_a_full(w + g * Og * K, K, true, K, Og, wp.ptr + g * wg);
        const int64_t bsize = round_up(ceil_div(P, L.nr) * L.nr * Og);
        const int64_t cols_size = direct ? 0 : round_up(K * P);
        for_tasks<T>(tasks, threads, bsize + cols_size, [&](int64_t t, T* scratch) {
            pack_b_full(group_gy(t), P, false, Og, P, scratch);
            T* dcols = direct ? group_gx(t) : scratch + bsize;
            gemm_prepacked(K, P, Og, wp.ptr + t % s.groups * wg, scratch, dcols, P, false);
            if (!direct) scatter(t, dcols);
        });
        return;
    }
    AlignedBuffer<T> dcols(static_cast<std::size_t>(direct ? 0 : K * P));
    for (int64_t t = 0; t < tasks; ++t) {
        T* c = direct ? group_gx(t) : dcols.ptr;
        gemm(GemmArgs<T>{K, P, Og, w + t % s.groups * Og * K, K, true, group_gy(t), P, false, c, P,
                         false},
             num_threads());
        if (!direct) scatter(t, dcols.ptr);
    }
}

template <typename T>
void conv2d_backward_weight(const T* x, const T* gy, T* gw, const ConvShape& s) {
    const int64_t P = s.pixels(), K = s.kdim(), Og = s.og(), Cg = s.cg();
    if (s.o == 0 || K == 0) return;
    if (s.n == 0 || P == 0) {  // an empty sum
        std::fill(gw, gw + s.o * K, T(0));
        return;
    }
    const bool direct = s.pointwise();
    const int64_t part = K * Og;  // one group's dW^T
    // Image chunks: a fixed number (from the shape, never the thread count), each summing its
    // images in order into its own partial dW^T; the partials are then added in chunk order.
    // As many chunks as fit in kPartialBytes, at most kMaxChunks and one per image.
    constexpr int64_t kMaxChunks = 8, kPartialBytes = int64_t{8} << 20;
    const int64_t part_bytes = std::max<int64_t>(1, s.groups * part * int64_t(sizeof(T)));
    const int64_t chunks =
        std::max<int64_t>(1, std::min<int64_t>({kMaxChunks, s.n, kPartialBytes / part_bytes}));
    // With one chunk and several threads (a large layer), split K rows across threads instead.
    const int nt = num_threads();
    const int64_t row_chunks = chunks > 1 ? 1 : std::min<int64_t>(K, ceil_div(nt, s.groups));
    const int64_t rows_max = ceil_div(K, row_chunks);
    const int64_t tasks = chunks * s.groups * row_chunks;
    const int threads = threads_for(2.0 * s.n * s.o * P * K, tasks);
    AlignedBuffer<T> partials(static_cast<std::size_t>(chunks * s.groups * part));
    const int64_t cols_size = direct ? 0 : round_up(rows_max * P);
    for_tasks<T>(tasks, threads, cols_size + gemm_scratch_size<T>(rows_max, Og, P),
                 [&](int64_t t, T* scratch) {
                     const int64_t chunk = t / (s.groups * row_chunks);
                     const int64_t g = t / row_chunks % s.groups, rc = t % row_chunks;
                     const int64_t r0 = K * rc / row_chunks, r1 = K * (rc + 1) / row_chunks;
                     const int64_t n0 = s.n * chunk / chunks, n1 = s.n * (chunk + 1) / chunks;
                     if (r1 == r0) return;
                     // rows [r0, r1) of this chunk's dW[g]^T: (r1 - r0) x Og, row stride Og
                     T* acc = partials.ptr + (chunk * s.groups + g) * part + r0 * Og;
                     for (int64_t n = n0; n < n1; ++n) {
                         const T* xg = x + (n * s.c + g * Cg) * s.h * s.w;
                         const T* a = scratch;
                         if (direct) {
                             a = xg + r0 * P;
                         } else {
                             im2col(xg, s, r0, r1, scratch);
                         }
                         gemm_serial(GemmArgs<T>{r1 - r0, Og, P, a, P, false,
                                                 gy + (n * s.o + g * Og) * P, P, true, acc, Og,
                                                 n > n0},
                                     scratch + cols_size);
                     }
                 });
    // gw[g*Og + o, r] = sum over chunks of partial[chunk][g][r, o], chunks in order.
    for (int64_t g = 0; g < s.groups; ++g) {
        for (int64_t o = 0; o < Og; ++o) {
            T* dst = gw + (g * Og + o) * K;
            for (int64_t r = 0; r < K; ++r) {
                T v = partials.ptr[g * part + r * Og + o];
                for (int64_t c = 1; c < chunks; ++c)
                    v += partials.ptr[(c * s.groups + g) * part + r * Og + o];
                dst[r] = v;
            }
        }
    }
}

#define TC_INSTANTIATE(T)                                                              \
    template void conv2d_forward<T>(const T*, const T*, T*, const ConvShape&);        \
    template void conv2d_backward_input<T>(const T*, const T*, T*, const ConvShape&); \
    template void conv2d_backward_weight<T>(const T*, const T*, T*, const ConvShape&);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc
