// Fused optimizer steps over ALL parameters in one launch ("multi-tensor apply"). T is float or double.
//
// A step of Adam over a model's parameters is dozens of small memory-bound updates; launched one
// tensor (let alone one arithmetic step) at a time, the launches cost more than the arithmetic. Here
// the glue cuts every tensor into chunks of `chunk` elements and launches one block per chunk. The
// block finds its tensor and range in a metadata table (one int64 array, copied to the device once
// per step):
//
//     meta[k * T + t]           k-th pointer of tensor t (Adam: param, grad, exp_avg, exp_avg_sq;
//                               SGD: param, grad, momentum buffer), as a 64-bit integer
//     meta[NPTR * T + t]        number of elements of tensor t
//     meta[(NPTR + 1) * T + b]  tensor of block b             (b < gridDim.x)
//     meta[(NPTR + 1) * T + gridDim.x + b]  first element of block b's chunk
//
// Each thread then updates elements start + threadIdx.x, + blockDim.x, ... below min(start + chunk,
// size): coalesced, no atomics. Bytes per element: Adam reads 4 values and writes 3, SGD with momentum
// reads 3 and writes 2; FLOPs are a handful per element. The update formulas are exactly those of
// tensorcore.optim (PyTorch's), in the same order of operations.
#include "common.cuh"

namespace tc {

template <int NPTR>
__device__ __forceinline__ void chunk_of_block(const long long* meta, int ntensors, int chunk, int& t,
                                               long long& start, long long& end) {
    t = (int)meta[(NPTR + 1) * ntensors + blockIdx.x];
    start = meta[(NPTR + 1) * ntensors + gridDim.x + blockIdx.x];
    const long long size = meta[NPTR * ntensors + t];
    end = start + chunk < size ? start + chunk : size;
}

// Adam (L2 weight decay: g += wd * p) or AdamW (decoupled: p *= decay = 1 - lr * wd), then
//   m += (g - m) * (1 - beta1);  v = v * beta2 + g * g * (1 - beta2)
//   p -= m / (sqrt(v) / bias_correction2_sqrt + eps) * step_size     step_size = lr / (1 - beta1^step)
// The 1 - x terms arrive computed on the host in double, as PyTorch computes them: in float, 1 - 0.999
// is off by 1.3e-5 relative, and that error would go straight into v.
template <class T>
__global__ void multi_tensor_adam(const long long* __restrict__ meta, int ntensors, int chunk, T one_minus_beta1,
                                  T beta2, T one_minus_beta2, T eps, T weight_decay, T decay, T step_size,
                                  T bias_correction2_sqrt, int decoupled) {
    int t;
    long long start, end;
    chunk_of_block<4>(meta, ntensors, chunk, t, start, end);
    T* p = reinterpret_cast<T*>(meta[t]);
    const T* gr = reinterpret_cast<const T*>(meta[ntensors + t]);
    T* m = reinterpret_cast<T*>(meta[2 * ntensors + t]);
    T* v = reinterpret_cast<T*>(meta[3 * ntensors + t]);
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        T pv = p[i], g = gr[i];
        if (weight_decay != T(0)) {
            if (decoupled) pv *= decay;
            else g = g + weight_decay * pv;
        }
        const T mv = m[i] + (g - m[i]) * one_minus_beta1;
        const T vv = v[i] * beta2 + g * g * one_minus_beta2;
        const T denom = sq(vv) / bias_correction2_sqrt + eps;
        m[i] = mv;
        v[i] = vv;
        p[i] = pv - (mv / denom) * step_size;
    }
}

// SGD: g += wd * p; with momentum, buf = g on the first step else buf = momentum * buf + (1 - dampening) * g,
// and g = g + momentum * buf (Nesterov) or buf; then p -= lr * g. Without momentum the buffer
// pointers are unused (may be 0).
template <class T>
__global__ void multi_tensor_sgd(const long long* __restrict__ meta, int ntensors, int chunk, T lr, T momentum,
                                 T dampening, T weight_decay, int nesterov, int first_step) {
    int t;
    long long start, end;
    chunk_of_block<3>(meta, ntensors, chunk, t, start, end);
    T* p = reinterpret_cast<T*>(meta[t]);
    const T* gr = reinterpret_cast<const T*>(meta[ntensors + t]);
    T* buf = reinterpret_cast<T*>(meta[2 * ntensors + t]);
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        const T pv = p[i];
        T g = gr[i];
        if (weight_decay != T(0)) g = g + weight_decay * pv;
        if (momentum != T(0)) {
            const T bv = first_step ? g : buf[i] * momentum + (T(1) - dampening) * g;
            buf[i] = bv;
            g = nesterov ? g + momentum * bv : bv;
        }
        p[i] = pv - lr * g;
    }
}

}  // namespace tc
