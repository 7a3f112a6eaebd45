// The CUDA kernel interface shared by the learner's kernels/cuda/ and the reference
// solutions/kernels/cuda/. Each function is a launcher: it runs on the host, picks a grid and a
// block and launches its __global__ kernel on `stream`, without waiting for it. Pointers are
// device pointers to contiguous, row-major float32 data whose shapes the front end
// (src/ml_refresher/cuda_kernels.py) and the bindings (src/bindings/cuda_module.cu) have already
// checked (every size >= 1, shapes that agree). Output buffers are NOT initialised: write every
// element.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels.h"  // kernels::not_implemented: Python sees NotImplementedError

namespace cuda_kernels {

using kernels::conv2d_shape;
using kernels::not_implemented;

// c (m x n) = a (m x k) @ b (k x n).
void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
            cudaStream_t stream);

// y (rows x cols) = softmax of each row of x (rows x cols):
// y[r, j] = exp(x[r, j] - max_r) / sum_i exp(x[r, i] - max_r). A row of all -inf gives NaN,
// as in torch.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream);

// The largest head dimension flash_attention takes (the front end checks it): a thread keeps a
// head_dim-long accumulator in registers and a block keeps tiles of q, k and v in shared memory.
#define FLASH_D_MAX 128

// out (bh, t, d) = softmax(q @ k^T / sqrt(d), masked if causal) @ v, one (t, d) slice per batch
// and head: q is (bh, t, d), k and v are (bh, s, d), d <= FLASH_D_MAX. Causal hides key j from
// query i when j > i (torch's top-left alignment when t != s).
void flash_attention(const float* q, const float* k, const float* v, float* out, int64_t bh,
                     int64_t t, int64_t s, int64_t d, bool causal, cudaStream_t stream);

// out (n, o, oh, ow) = conv2d(x (n, c, h, w), weight (o, c, kh, kw)) + bias (o,), zero padding,
// as kernels::conv2d_nchw (kernels.h, which defines conv2d_shape and the output size); bias may
// be nullptr. x, weight, bias and out are NCHW / OIHW, contiguous.
void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& shape, cudaStream_t stream);

}  // namespace cuda_kernels
