// The kernel interface shared by the learner's kernels/ and the reference solutions/kernels/.
// Arrays arrive as raw pointers to contiguous, row-major float32 data whose shapes the bindings
// (src/bindings/kernels_module.cpp) have already checked (every size >= 1, shapes that agree),
// so a kernel only does the maths. Output buffers are NOT initialised: write every element.
// Threads: use OpenMP (`#pragma omp parallel for`); the bindings set the thread count.
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

// y (rows x cols) = softmax of each row of x (rows x cols):
// y[r, j] = exp(x[r, j] - max_r) / sum_i exp(x[r, i] - max_r). A row that is all -inf gives NaN,
// as in torch.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols);

// out (batch*heads, t, d) = softmax(q @ k^T / sqrt(d), masked if causal) @ v, one
// (t, d) slice per batch and head: q is (bh, t, d), k and v are (bh, s, d). Causal hides key j
// from query i when j > i (torch's top-left alignment when t != s).
void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal);

// Shapes of a 2-D convolution: input (n, c, h, w), weight (o, c, kh, kw), output (n, o, oh, ow)
// with oh = (h + 2 * padding - kh) / stride + 1 and ow likewise.
struct conv2d_shape {
  int64_t n, c, h, w;
  int64_t o, kh, kw;
  int64_t stride, padding;
  int64_t oh, ow;
};

// out = conv2d(x, weight) + bias (per output channel; bias may be nullptr), zero padding.
void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& shape);

}  // namespace kernels
