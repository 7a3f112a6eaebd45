// Reference fused attention, flash-attention style: for each block of BR queries, walk the keys
// and values in tiles of BC, keeping for every query row a running max m, a running sum l of
// exp(score - m) and an unnormalised output o. A new tile with a larger max rescales l and o by
// exp(m_old - m_new) (the "online softmax"), so the t x s score matrix never exists: memory is
// O(BR x BC) per thread, and every tile is reused from L1/L2 by the BR queries of the block.
// Both products (scores = q k^T and o += p v) go through one register-blocked kernel.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.h"
#include "simd.h"

namespace kernels {
namespace {

using simd::vec;

// A register tile is R rows x up to NV_MAX vectors of c: 24 accumulators + 4 vectors of b with
// AVX-512's 32 registers, 12 + 2 with AVX2's 16.
constexpr int64_t R = 6;
constexpr int64_t NV_MAX = simd::registers >= 32 ? 4 : 2;
constexpr int64_t BR = 8 * R;   // queries per block
constexpr int64_t BC = 64;      // keys per tile
constexpr float minus_inf = -std::numeric_limits<float>::infinity();

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// c (R x NV*lanes, row stride ldc) (+)= a (R x kdim, row stride lda) @ b (kdim x NV*lanes, row
// stride ldb), with the R x NV tile of c held in registers across the whole kdim loop.
template <int NV>
void register_tile(int64_t kdim, const float* a, int64_t lda, const float* b, int64_t ldb,
                   float* c, int64_t ldc, bool accumulate) {
  vec acc[R][NV] = {};
  for (int64_t p = 0; p < kdim; ++p) {
    vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(b + p * ldb + v * simd::lanes);
#pragma GCC unroll 6
    for (int64_t i = 0; i < R; ++i) {
      const float ai = a[i * lda + p];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
    }
  }
#pragma GCC unroll 6
  for (int64_t i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* out = c + i * ldc + v * simd::lanes;
      simd::store(out, accumulate ? simd::load(out) + acc[i][v] : acc[i][v]);
    }
  }
}

// c (rows x cols) (+)= a (rows x kdim) @ b (kdim x cols); rows a multiple of R, cols of lanes.
void small_gemm(int64_t rows, int64_t cols, int64_t kdim, const float* a, int64_t lda,
                const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < rows; i += R) {
    for (int64_t j = 0; j < cols; j += NV_MAX * simd::lanes) {
      const float* a_rows = a + i * lda;
      float* c_tile = c + i * ldc + j;
      switch (std::min(NV_MAX, (cols - j) / simd::lanes)) {
        case 4: register_tile<4>(kdim, a_rows, lda, b + j, ldb, c_tile, ldc, accumulate); break;
        case 3: register_tile<3>(kdim, a_rows, lda, b + j, ldb, c_tile, ldc, accumulate); break;
        case 2: register_tile<2>(kdim, a_rows, lda, b + j, ldb, c_tile, ldc, accumulate); break;
        default: register_tile<1>(kdim, a_rows, lda, b + j, ldb, c_tile, ldc, accumulate);
      }
    }
  }
}

}  // namespace

void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal) {
  const int64_t sp = round_up(s, BC);             // keys, padded to whole tiles
  const int64_t dp = round_up(d, simd::lanes);    // head size, padded to whole vectors
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // Per head: k transposed to (d x sp), so that a score tile is a plain product with unit-stride
  // rows, and v padded to (sp x dp). Zero padding adds nothing to any product.
  std::vector<float> k_t(bh * d * sp, 0.0f), v_pad(bh * sp * dp, 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < bh; ++h) {
    for (int64_t j = 0; j < s; ++j) {
      for (int64_t c = 0; c < d; ++c) k_t[(h * d + c) * sp + j] = k[(h * s + j) * d + c];
      std::copy(v + (h * s + j) * d, v + (h * s + j + 1) * d, v_pad.begin() + (h * sp + j) * dp);
    }
  }

  const int64_t q_blocks = (t + BR - 1) / BR;
  int64_t threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  // Each thread's block buffers, allocated here: an exception must not escape a parallel region.
  const int64_t per_thread = BR * d + BR * BC + BR * dp + 2 * BR;
  std::vector<float> scratch(threads * per_thread);
#pragma omp parallel
  {
    float* q_blk = scratch.data();
#ifdef _OPENMP
    q_blk += omp_get_thread_num() * per_thread;
#endif
    float* scores = q_blk + BR * d;  // BR x BC scores, then their exponentials p
    float* o = scores + BR * BC;     // BR x dp unnormalised outputs
    float* m = o + BR * dp;          // running max per query
    float* l = m + BR;               // running sum of exp(score - m) per query
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t h = 0; h < bh; ++h) {
      for (int64_t qb = 0; qb < q_blocks; ++qb) {
        const int64_t i0 = qb * BR, rows = std::min(BR, t - i0);
        // The block's queries, pre-scaled by 1/sqrt(d); rows past t are zero.
        std::fill(q_blk, q_blk + BR * d, 0.0f);
        for (int64_t i = 0; i < rows * d; ++i) q_blk[i] = q[(h * t + i0) * d + i] * scale;
        std::fill(o, o + BR * dp, 0.0f);
        std::fill(m, m + BR, minus_inf);
        std::fill(l, l + BR, 0.0f);
        // Causal: tiles whose first key is after the block's last query are masked entirely.
        const int64_t key_end = causal ? std::min(s, i0 + BR) : s;
        for (int64_t j0 = 0; j0 < key_end; j0 += BC) {
          small_gemm(BR, BC, d, q_blk, d, &k_t[h * d * sp + j0], sp, scores, BC,
                     false);
          const bool masked = j0 + BC > s || (causal && j0 + BC - 1 > i0);
          for (int64_t i = 0; i < BR; ++i) {
            float* row = scores + i * BC;
            if (masked) {
              const int64_t visible = causal ? std::min(s, i0 + i + 1) : s;
              for (int64_t j = std::max<int64_t>(0, visible - j0); j < BC; ++j) row[j] = minus_inf;
            }
            vec tile_max = simd::broadcast(minus_inf);
            for (int64_t j = 0; j < BC; j += simd::lanes) {
              tile_max = simd::max(tile_max, simd::load(row + j));
            }
            // Finite: key 0 is visible to every query and the first tile holds it.
            const float m_new = std::max(m[i], simd::reduce_max(tile_max));
            const float alpha = std::exp(m[i] - m_new);  // 0 on the first visible tile
            const vec shift = simd::broadcast(m_new);
            vec sum{};
            for (int64_t j = 0; j < BC; j += simd::lanes) {
              const vec p = simd::exp(simd::load(row + j) - shift);
              simd::store(row + j, p);
              sum += p;
            }
            l[i] = l[i] * alpha + simd::reduce_sum(sum);
            m[i] = m_new;
            float* o_row = o + i * dp;
            for (int64_t c = 0; c < dp; c += simd::lanes) {
              simd::store(o_row + c, simd::load(o_row + c) * alpha);
            }
          }
          small_gemm(BR, dp, BC, scores, BC, &v_pad[(h * sp + j0) * dp], dp, o, dp,
                     true);
        }
        for (int64_t i = 0; i < rows; ++i) {
          const float inv = 1.0f / l[i];
          for (int64_t c = 0; c < d; ++c) out[(h * t + i0 + i) * d + c] = o[i * dp + c] * inv;
        }
      }
    }
  }
}

}  // namespace kernels
