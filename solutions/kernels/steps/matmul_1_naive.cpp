// matmul ladder, step 1: the textbook i-j-p loop. Correct, and slow: the inner loop walks B down
// a column (stride n floats), so for large n each multiply-add waits for a cache line (and, at
// 4 KiB strides, a TLB entry) that the next j needs again.
#include "kernels.h"

namespace kernels {

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p) sum += a[i * k + p] * b[p * n + j];
      c[i * n + j] = sum;
    }
  }
}

}  // namespace kernels
