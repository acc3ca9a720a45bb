// Thread-count control shared by every C++ kernel.
//
// The count lives in one process-wide atomic instead of OpenMP's `omp_set_num_threads`, because
// that call only changes the calling thread's setting: a kernel launched from another Python
// thread would silently ignore it. Kernels pass `num_threads()` to their parallel regions
// explicitly (`#pragma omp parallel num_threads(...)`).
#pragma once

#include <atomic>

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

}  // namespace tc
