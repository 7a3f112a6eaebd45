// matmul ladder, step 2: the same arithmetic in i-p-j order. The inner loop now walks a row of B
// and a row of C with stride 1, which the compiler vectorises (-fopt-info-vec shows it); but all
// of B streams through the caches once per row of A: memory-bound for large n.
#include <algorithm>

#include "kernels.h"

namespace kernels {

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * n;
    std::fill(row, row + n, 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const float aip = a[i * k + p];
      for (int64_t j = 0; j < n; ++j) row[j] += aip * b[p * n + j];
    }
  }
}

}  // namespace kernels
