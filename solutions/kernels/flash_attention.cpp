// Reference fused attention, flash-attention style: for each block of BR queries, walk the keys
// and values in tiles of BC, keeping for every query a running max m, a running sum l of
// exp(score - m) and an unnormalised output o. A new tile with a larger max rescales l and o by
// exp(m_old - m_new) (the "online softmax"), so the t x s score matrix never exists: memory is
// O(BR x BC) per thread, and every tile is reused from L1/L2 by the BR queries of the block.
//
// A tile's scores are kept transposed, keys x queries (BC x BR): one vector holds one key's
// scores for `lanes` queries, so the max over keys, the exponentials and the sum over keys are
// plain vector operations, one query per lane. A queries x keys layout needs two horizontal
// reductions and a scalar exp per query and tile, serial chains that cost as much as the
// products. Both products (scores^T = k_tile q_block^T and o += p v_tile) go through one
// register-blocked kernel.
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
constexpr int64_t BR = 3 * 16;  // queries per block: whole vectors and whole register tiles
constexpr int64_t BC = 16 * R;  // keys per tile: whole register tiles
constexpr int64_t QV = BR / simd::lanes;  // vectors per key's row of scores
constexpr float minus_inf = -std::numeric_limits<float>::infinity();

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// c (R x NV*lanes, row stride ldc) (+)= a (R x kdim) @ b (kdim x NV*lanes, row stride ldb), with
// a(i, p) at a[i * a_row + p * a_col], and the R x NV tile of c held in registers across the
// whole kdim loop.
template <int NV>
void register_tile(int64_t kdim, const float* a, int64_t a_row, int64_t a_col, const float* b,
                   int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  vec acc[R][NV] = {};
  for (int64_t p = 0; p < kdim; ++p) {
    vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = simd::load(b + p * ldb + v * simd::lanes);
#pragma GCC unroll 6
    for (int64_t i = 0; i < R; ++i) {
      const float ai = a[i * a_row + p * a_col];
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
void small_gemm(int64_t rows, int64_t cols, int64_t kdim, const float* a, int64_t a_row,
                int64_t a_col, const float* b, int64_t ldb, float* c, int64_t ldc,
                bool accumulate) {
  for (int64_t i = 0; i < rows; i += R) {
    for (int64_t j = 0; j < cols; j += NV_MAX * simd::lanes) {
      const float* a_rows = a + i * a_row;
      float* c_tile = c + i * ldc + j;
      const float* b_cols = b + j;
      switch (std::min(NV_MAX, (cols - j) / simd::lanes)) {
        case 4:
          register_tile<4>(kdim, a_rows, a_row, a_col, b_cols, ldb, c_tile, ldc, accumulate);
          break;
        case 3:
          register_tile<3>(kdim, a_rows, a_row, a_col, b_cols, ldb, c_tile, ldc, accumulate);
          break;
        case 2:
          register_tile<2>(kdim, a_rows, a_row, a_col, b_cols, ldb, c_tile, ldc, accumulate);
          break;
        default:
          register_tile<1>(kdim, a_rows, a_row, a_col, b_cols, ldb, c_tile, ldc, accumulate);
      }
    }
  }
}

}  // namespace

void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal) {
  const int64_t sp = round_up(s, BC);           // keys, padded to whole tiles
  const int64_t dp = round_up(d, simd::lanes);  // head size, padded to whole vectors
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // Per head: k padded to (sp x d), so that a tile's product reads whole register tiles, and v
  // padded to (sp x dp). Zero padding adds nothing to any product.
  std::vector<float> k_pad(bh * sp * d, 0.0f), v_pad(bh * sp * dp, 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t h = 0; h < bh; ++h) {
    std::copy(k + h * s * d, k + (h + 1) * s * d, k_pad.begin() + h * sp * d);
    for (int64_t j = 0; j < s; ++j) {
      std::copy(v + (h * s + j) * d, v + (h * s + j + 1) * d, v_pad.begin() + (h * sp + j) * dp);
    }
  }

  const int64_t q_blocks = (t + BR - 1) / BR;
  int64_t threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  // Each thread's block buffers, allocated here: an exception must not escape a parallel region.
  const int64_t per_thread = d * BR + BC * BR + BR * dp + 3 * BR;
  std::vector<float> scratch(threads * per_thread);
#pragma omp parallel
  {
    float* q_t = scratch.data();
#ifdef _OPENMP
    q_t += omp_get_thread_num() * per_thread;
#endif
    float* scores = q_t + d * BR;   // BC x BR scores, keys x queries, then their exponentials p
    float* o = scores + BC * BR;    // BR x dp unnormalised outputs
    float* m = o + BR * dp;         // running max per query
    float* l = m + BR;              // running sum of exp(score - m) per query
    float* alpha = l + BR;          // this tile's rescale factor per query
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t h = 0; h < bh; ++h) {
      for (int64_t qb = 0; qb < q_blocks; ++qb) {
        const int64_t i0 = qb * BR, rows = std::min(BR, t - i0);
        // The block's queries, transposed (d x BR) and pre-scaled by 1/sqrt(d); queries past t
        // are zero.
        std::fill(q_t, q_t + d * BR, 0.0f);
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t c = 0; c < d; ++c) q_t[c * BR + i] = q[(h * t + i0 + i) * d + c] * scale;
        }
        std::fill(o, o + BR * dp, 0.0f);
        std::fill(m, m + BR, minus_inf);
        std::fill(l, l + BR, 0.0f);
        // Causal: keys after the block's last query are hidden from all of it: stop there.
        const int64_t key_end = causal ? std::min(s, i0 + BR) : s;
        for (int64_t j0 = 0; j0 < key_end; j0 += BC) {
          const int64_t keys = std::min(BC, key_end - j0);  // the rest are padding or hidden
          small_gemm(round_up(keys, R), BR, d, &k_pad[(h * sp + j0) * d], d, 1, q_t, BR, scores,
                     BR, false);
          // Causal: key j0 + j is hidden from the queries before it, i0 + i < j0 + j.
          for (int64_t j = 0; causal && j < keys; ++j) {
            const int64_t hidden = std::min(BR, j0 + j - i0);
            std::fill(scores + j * BR, scores + j * BR + std::max<int64_t>(0, hidden), minus_inf);
          }
          vec m_old[QV], m_new[QV], sum[QV] = {};
          for (int64_t u = 0; u < QV; ++u) m_old[u] = m_new[u] = simd::load(m + u * simd::lanes);
          for (int64_t j = 0; j < keys; ++j) {
            for (int64_t u = 0; u < QV; ++u) {
              m_new[u] = simd::max(m_new[u], simd::load(scores + j * BR + u * simd::lanes));
            }
          }
          // Finite: key 0 is visible to every query and the first tile holds it.
          for (int64_t j = 0; j < keys; ++j) {
            for (int64_t u = 0; u < QV; ++u) {
              float* p = scores + j * BR + u * simd::lanes;
              const vec e = simd::exp(simd::load(p) - m_new[u]);
              simd::store(p, e);
              sum[u] += e;
            }
          }
          for (int64_t u = 0; u < QV; ++u) {
            const vec a = simd::exp(m_old[u] - m_new[u]);  // 0 on the first tile
            simd::store(alpha + u * simd::lanes, a);
            simd::store(l + u * simd::lanes, simd::load(l + u * simd::lanes) * a + sum[u]);
            simd::store(m + u * simd::lanes, m_new[u]);
          }
          for (int64_t i = 0; i < BR; ++i) {
            const vec a = simd::broadcast(alpha[i]);
            for (int64_t c = 0; c < dp; c += simd::lanes) {
              simd::store(o + i * dp + c, simd::load(o + i * dp + c) * a);
            }
          }
          // o (BR x dp) += p (BR x keys, read from its transpose) @ v_tile (keys x dp)
          small_gemm(BR, dp, keys, scores, 1, BR, &v_pad[(h * sp + j0) * dp], dp, o, dp, true);
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
