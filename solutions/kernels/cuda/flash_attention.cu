// Reference for kata 07_gpu_kernels/cuda_flash_attention: out = softmax(q k^T / sqrt(d)) v per
// (batch, head), forward only, without the t x s score matrix: K and V pass through shared memory
// tile by tile, and each query keeps a running max, a running sum and a rescaled accumulator.
#include <cmath>

#include "cuda_kernels.h"

namespace cuda_kernels {

// One thread per query row, BQ rows per block; tiles of BKV keys. Shared memory: (BQ + 2 BKV) x
// D_MAX floats = 32 KB, under the 48 KB a block may use without opting in.
constexpr int BQ = 32, BKV = 16;

__global__ void flash_attention_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ v, float* __restrict__ out,
                                       int64_t t, int64_t s, int d, float scale, bool causal) {
  __shared__ float qs[BQ][FLASH_D_MAX];
  __shared__ float ks[BKV][FLASH_D_MAX];
  __shared__ float vs[BKV][FLASH_D_MAX];

  const int tid = threadIdx.x;
  const int64_t head = blockIdx.y, first = int64_t(blockIdx.x) * BQ, i = first + tid;
  q += head * t * d, out += head * t * d;  // this (batch, head)'s slices
  k += head * s * d, v += head * s * d;

  // The block's query rows, loaded together (consecutive threads, consecutive floats); rows
  // past t are 0 and their threads compute nothing, but they still help load and reach every
  // __syncthreads().
  for (int e = tid; e < BQ * d; e += BQ) {
    const int r = e / d, f = e % d;
    qs[r][f] = first + r < t ? q[(first + r) * d + f] : 0.0f;
  }

  float m = -INFINITY, l = 0.0f;  // running max and sum of exp(score - m)
  float acc[FLASH_D_MAX] = {};    // running sum of exp(score - m) * v; indices are constants
                                  // after unrolling, so it stays in registers
  // Causal: key j is hidden from query i when j > i, so no key past this block's last query
  // (first + BQ - 1) is needed; those tiles are skipped outright.
  const int64_t end = causal ? (first + BQ < s ? first + BQ : s) : s;
  for (int64_t j0 = 0; j0 < end; j0 += BKV) {
    __syncthreads();  // the previous tile is no longer read (and, the first time, qs is loaded)
    for (int e = tid; e < BKV * d; e += BQ) {
      const int r = e / d, f = e % d;
      const bool inside = j0 + r < s;
      ks[r][f] = inside ? k[(j0 + r) * d + f] : 0.0f;
      vs[r][f] = inside ? v[(j0 + r) * d + f] : 0.0f;
    }
    __syncthreads();
    if (i >= t) continue;
    for (int r = 0; r < BKV; ++r) {
      const int64_t j = j0 + r;
      if (j >= s || (causal && j > i)) break;  // keys only grow along the tile
      float score = 0.0f;
#pragma unroll
      for (int f = 0; f < FLASH_D_MAX; ++f) {
        if (f < d) score += qs[tid][f] * ks[r][f];
      }
      score *= scale;
      // Online softmax: a larger max shrinks everything summed so far by exp(m - m_new) <= 1.
      const float m_new = fmaxf(m, score);
      const float alpha = expf(m - m_new);  // exp(-inf) = 0 for the first key
      const float p = expf(score - m_new);
      l = l * alpha + p;
#pragma unroll
      for (int f = 0; f < FLASH_D_MAX; ++f) {
        if (f < d) acc[f] = acc[f] * alpha + p * vs[r][f];
      }
      m = m_new;
    }
  }
  if (i >= t) return;
  // Every query sees at least key 0 (j = 0 <= i), so l >= 1 here.
#pragma unroll
  for (int f = 0; f < FLASH_D_MAX; ++f) {
    if (f < d) out[i * d + f] = acc[f] / l;
  }
}

void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal, cudaStream_t stream) {
  const dim3 grid(unsigned((t + BQ - 1) / BQ), unsigned(bh));
  const float scale = 1.0f / std::sqrt(float(d));
  flash_attention_kernel<<<grid, BQ, 0, stream>>>(q, k, v, out, t, s, int(d), scale, causal);
}

}  // namespace cuda_kernels
