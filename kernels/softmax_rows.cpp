// Kata 06_kernels/softmax_rows: write y = softmax(x) over each row of a row-major float32 matrix.
// Lesson: katas/06_kernels/README.md. Hints: `kata hint softmax_rows`.
// After an edit, the next test that calls this kernel recompiles it (only what changed).
#include "kernels.h"

namespace kernels {

// y[r, j] = exp(x[r, j] - max_r) / sum_i exp(x[r, i] - max_r); x, y: (rows x cols).
// Subtract the row's max first, or exp(1e4) overflows; a row of all -inf gives NaN (as torch).
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  (void)x, (void)y, (void)rows, (void)cols;
  throw not_implemented("kernels/softmax_rows.cpp: softmax_rows is not implemented yet");
}

}  // namespace kernels
