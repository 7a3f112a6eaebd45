// Reference matmul: C = A @ B, row-major float32.
// The i-k-j loop order streams rows of B and C, so the inner loop is unit-stride and the compiler
// vectorises it; each thread owns a band of rows of C, so no two threads write the same memory.
#include "kernels.h"

namespace kernels {

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    float* c_row = c + i * n;
    for (int64_t j = 0; j < n; ++j) c_row[j] = 0.0f;
    for (int64_t p = 0; p < k; ++p) {
      const float a_ip = a[i * k + p];
      const float* b_row = b + p * n;
      for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
    }
  }
}

}  // namespace kernels
