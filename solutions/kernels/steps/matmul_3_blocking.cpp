// matmul ladder, step 3: step 2's loop inside blocks. For each KC x NB block of B (256 KiB, kept
// in L2) every row of A uses it before the next block is touched, so B comes from RAM once per
// block instead of once per row of A. The loads are still strided rows of the original B.
#include <algorithm>

#include "kernels.h"
#include "ladder.h"

namespace kernels {

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  using namespace ladder;
  zero(c, m * n);
  for (int64_t jc = 0; jc < n; jc += NB) {
    const int64_t j_end = std::min(n, jc + NB);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t p_end = std::min(k, pc + KC);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t p = pc; p < p_end; ++p) {
          const float aip = a[i * k + p];
          for (int64_t j = jc; j < j_end; ++j) c[i * n + j] += aip * b[p * n + j];
        }
      }
    }
  }
}

}  // namespace kernels
