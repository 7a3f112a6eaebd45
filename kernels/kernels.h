// The kernel interface shared by the learner's kernels/ and the reference solutions/kernels/.
// Arrays arrive as raw pointers to contiguous, row-major float32 data whose shapes the bindings
// (src/bindings/kernels_module.cpp) have already checked, so a kernel only does the maths.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace kernels {

// Thrown by a kernel that has not been written yet; Python sees NotImplementedError.
struct not_implemented : std::logic_error {
  using std::logic_error::logic_error;
};

// c (m x n) = a (m x k) @ b (k x n).
void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n);

}  // namespace kernels
