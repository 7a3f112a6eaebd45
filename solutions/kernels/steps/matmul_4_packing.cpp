// matmul ladder, step 4: pack B's block into NR-wide panels (ladder.h), each read front to back,
// and keep one row of a C tile (NV vectors) in registers for the whole slice of k: C is loaded
// and stored once per slice instead of once per multiply-add. But there are only NV = 2
// accumulators: each FMA waits for the previous one into the same register (4 cycles of
// latency), so the FMA units idle most of the time, and there is one load of B per FMA.
#include <vector>

#include "kernels.h"
#include "ladder.h"

namespace kernels {

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  using namespace ladder;
  using simd::vec;
  zero(c, m * n);
  std::vector<float> packed(KC * ((n + NR - 1) / NR * NR));
  for (int64_t pc = 0; pc < k; pc += KC) {
    const int64_t kc = std::min(KC, k - pc);
    pack_b(b + pc * n, n, kc, n, packed.data());
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t jr = 0; jr < n; jr += NR) {
        const float* panel = packed.data() + jr * kc;
        vec acc[NV] = {};
        for (int64_t p = 0; p < kc; ++p) {
          const float aip = a[i * k + pc + p];
          for (int64_t v = 0; v < NV; ++v) {
            acc[v] += aip * simd::load(panel + p * NR + v * simd::lanes);
          }
        }
        float tile[NR];
        for (int64_t v = 0; v < NV; ++v) simd::store(tile + v * simd::lanes, acc[v]);
        add_tile(tile, 1, std::min(NR, n - jr), c + i * n + jr, n);
      }
    }
  }
}

}  // namespace kernels
