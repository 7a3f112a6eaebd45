// Kata 07_gpu_kernels/cuda_flash_attention: write out = softmax(q k^T / sqrt(d)) v on the GPU,
// forward, causal or not, with K and V in shared-memory tiles and the online softmax. Lesson:
// katas/07_gpu_kernels/README.md, "CUDA flash attention". Hints: `kata hint
// cuda_flash_attention`. After an edit, the next test that calls this kernel recompiles it with
// nvcc (ml_refresher.cuda_build).
#include "cuda_kernels.h"

namespace cuda_kernels {

// One thread per query row, BQ rows per block; tiles of BKV keys.
constexpr int BQ = 32, BKV = 16;

// q: (bh, t, d), k and v: (bh, s, d), out: (bh, t, d), row-major, d <= FLASH_D_MAX. Launched
// with BQ threads per block and a (ceil(t / BQ), bh) grid: block (bx, h) owns query rows
// bx * BQ .. of slice h, thread tid owns row bx * BQ + tid. scale = 1 / sqrt(d). Causal: key j
// is hidden from query i when j > i.
__global__ void flash_attention_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, float* __restrict__ out,
                                       int64_t t, int64_t s, int d, float scale, bool causal) {
  // Write the kernel here.
}

void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal, cudaStream_t stream) {
  (void)q, (void)k, (void)v, (void)out, (void)bh, (void)t, (void)s, (void)d, (void)causal;
  (void)stream;
  // dim3 grid(ceil(t / BQ), bh);
  // flash_attention_kernel<<<grid, BQ, 0, stream>>>(q, k, v, out, t, s, int(d), scale, causal);
  throw not_implemented("kernels/cuda/flash_attention.cu: write flash_attention()");
}

}  // namespace cuda_kernels
