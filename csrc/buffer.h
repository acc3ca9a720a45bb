// Scratch memory for the kernels: 64-byte aligned, owned, never initialised.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>

namespace tc {

// Owns memory from aligned operator new (C++17), 64-byte aligned so packed panels start on a
// cache line (and full-width vector loads never split one). Allocate before a parallel region:
// std::bad_alloc must surface on the calling thread, since an exception escaping an OpenMP region
// terminates the process.
template <typename T>
struct AlignedBuffer {
    static constexpr std::align_val_t kAlign{64};
    T* ptr;
    explicit AlignedBuffer(std::size_t count)
        : ptr(static_cast<T*>(
              ::operator new(std::max<std::size_t>(count, 1) * sizeof(T), kAlign))) {}
    ~AlignedBuffer() { ::operator delete(ptr, kAlign); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

}  // namespace tc
