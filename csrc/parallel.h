// Thread-count control shared by every C++ kernel.
//
// The count lives in one process-wide atomic instead of OpenMP's `omp_set_num_threads`, because
// that call only changes the calling thread's setting: a kernel launched from another Python
// thread would silently ignore it. Kernels pass `num_threads()` to their parallel regions
// explicitly (`#pragma omp parallel num_threads(...)`).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tc {

constexpr bool kHasOpenMP =
#ifdef _OPENMP
    true;
#else
    false;
#endif

inline int default_num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline std::atomic<int>& num_threads_setting() {
    static std::atomic<int> n{default_num_threads()};
    return n;
}

// Threads a kernel may use; always 1 in a build without OpenMP.
inline int num_threads() { return kHasOpenMP ? num_threads_setting().load() : 1; }

// Caller validates n >= 1. A no-op without OpenMP (num_threads() stays 1).
inline void set_num_threads(int n) { num_threads_setting().store(n); }

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Runs f(begin, end) over contiguous, equal ranges of [0, items), one per thread. Uses fewer
// threads (down to one, with no parallel region) when the whole job is under ~`min_per_thread`
// items per thread: starting threads and joining them costs a few microseconds, more than a
// memory-bound pass over a few thousand elements. f must not throw (an exception escaping an
// OpenMP region terminates the process): callers validate and allocate before calling this.
template <class F>
void parallel_ranges(int64_t items, int64_t min_per_thread, F&& f) {
    int64_t threads = std::min<int64_t>(num_threads(), items / std::max<int64_t>(min_per_thread, 1));
    if (threads <= 1) {
        if (items > 0) f(int64_t{0}, items);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(threads))
    {
        const int64_t t = omp_get_thread_num(), nth = omp_get_num_threads();
        f(items * t / nth, items * (t + 1) / nth);
    }
#endif
}

}  // namespace tc
