// Which vector instruction sets this CPU (and its OS) supports, probed once at run time.
//
// The extension is built for the baseline ISA of its target (SSE2 on x86-64), so one build runs on
// any machine. The hot kernels also carry AVX2+FMA and AVX-512 versions, compiled with GCC/Clang
// `__attribute__((target(...)))`; they are only called after these checks say the CPU has them.
// `__builtin_cpu_supports` also checks (XGETBV) that the OS saves the wider registers, so a CPU
// whose OS disabled AVX-512 reports it as missing.
#pragma once

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TC_X86_DISPATCH 1
#else
#define TC_X86_DISPATCH 0
#endif

// Plain loops (elementwise, softmax rows) get their vector ISA from GCC function multiversioning:
// target_clones compiles the function once per ISA level (x86-64-v4: AVX-512; v3: AVX2 + FMA;
// the baseline) and an ifunc resolver -- which runs the same CPU checks as below -- binds the
// best clone when the library loads. Needs GCC and an ifunc-capable loader (glibc); elsewhere it
// expands to nothing and the baseline build is used.
#if TC_X86_DISPATCH && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define TC_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TC_MULTIVERSION
#endif

namespace tc {

struct CpuFeatures {
    bool avx2_fma = false;  // AVX2 together with FMA3: the pair the AVX2 kernels are built for
    bool avx512f = false;
};

inline CpuFeatures detect_cpu_features() {
    CpuFeatures f;
#if TC_X86_DISPATCH
    __builtin_cpu_init();
    f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    f.avx512f = __builtin_cpu_supports("avx512f");
#endif
    return f;
}

inline const CpuFeatures& cpu_features() {
    static const CpuFeatures features = detect_cpu_features();
    return features;
}

// The architecture the extension was compiled for, as reported by _C.cpu_features().
constexpr const char* kArchName =
#if defined(__x86_64__)
    "x86_64";
#elif defined(__aarch64__)
    "aarch64";
#else
    "other";
#endif

}  // namespace tc
