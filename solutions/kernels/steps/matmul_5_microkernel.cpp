// matmul ladder, step 5: pack A too, into MR-tall panels, and compute an MR x NR tile of C in
// registers: per step of k, NV loads of B and MR broadcasts of A feed MR * NV FMAs, so the FMA
// units set the pace. One thread; B's slice of k (KC x n) stays in L2 while one A panel (L1) is
// multiplied with all of its panels.
#include <vector>

#include "kernels.h"
#include "ladder.h"

namespace kernels {
namespace {

using namespace ladder;
using simd::vec;

// MR x NV accumulators: 24 of AVX-512's 32 vector registers (12 of AVX2's 16).
constexpr int64_t MR = simd::registers >= 32 ? 12 : 6;

// Rows [i0, i0 + MR) of a (row stride lda), columns [0, kc), stored column by column
// (packed[p * MR + i]); rows past m are zero.
void pack_a(const float* a, int64_t lda, int64_t i0, int64_t m, int64_t kc, float* packed) {
  for (int64_t p = 0; p < kc; ++p) {
    for (int64_t i = 0; i < MR; ++i) {
      packed[p * MR + i] = i0 + i < m ? a[(i0 + i) * lda + p] : 0.0f;
    }
  }
}

// tile (MR x NR, row stride NR) = a_panel @ b_panel over kc steps.
void micro_kernel(int64_t kc, const float* a_panel, const float* b_panel, float* tile) {
  vec acc[MR][NV] = {};
  for (int64_t p = 0; p < kc; ++p) {
    vec bv[NV];
    for (int64_t v = 0; v < NV; ++v) bv[v] = simd::load(b_panel + p * NR + v * simd::lanes);
#pragma GCC unroll 16
    for (int64_t i = 0; i < MR; ++i) {
      for (int64_t v = 0; v < NV; ++v) acc[i][v] += a_panel[p * MR + i] * bv[v];
    }
  }
  for (int64_t i = 0; i < MR; ++i) {
    for (int64_t v = 0; v < NV; ++v) simd::store(tile + i * NR + v * simd::lanes, acc[i][v]);
  }
}

}  // namespace

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  zero(c, m * n);
  std::vector<float> b_packed(KC * ((n + NR - 1) / NR * NR)), a_panel(MR * KC);
  float tile[MR * NR];
  for (int64_t pc = 0; pc < k; pc += KC) {
    const int64_t kc = std::min(KC, k - pc);
    pack_b(b + pc * n, n, kc, n, b_packed.data());
    for (int64_t ir = 0; ir < m; ir += MR) {
      pack_a(a + pc, k, ir, m, kc, a_panel.data());  // one A panel, reused across all of B's
      for (int64_t jr = 0; jr < n; jr += NR) {
        micro_kernel(kc, a_panel.data(), b_packed.data() + jr * kc, tile);
        add_tile(tile, std::min(MR, m - ir), std::min(NR, n - jr), c + ir * n + jr, n);
      }
    }
  }
}

}  // namespace kernels
