// Cache-blocked matrix multiply on raw, C-contiguous buffers (no Python in here).
#pragma once

#include <cstdint>

namespace tc {

// c[b] = a[b] @ b[b] for b in [0, batch): a is (batch, m, k), b is (batch, k, n), c is (batch, m, n),
// all C-contiguous and non-overlapping. c is fully overwritten (k == 0 gives zeros), so it may be
// uninitialised. Sizes are validated by the caller (nothing here checks or throws except
// std::bad_alloc for the packing buffers, which is raised before any thread starts).
// Uses up to tc::num_threads() OpenMP threads; safe to call without the GIL.
template <typename T>
void matmul_batched(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k);

extern template void matmul_batched<float>(const float*, const float*, float*, int64_t, int64_t,
                                           int64_t, int64_t);
extern template void matmul_batched<double>(const double*, const double*, double*, int64_t,
                                            int64_t, int64_t, int64_t);

}  // namespace tc
