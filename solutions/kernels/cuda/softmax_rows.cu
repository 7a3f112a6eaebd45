// Reference for kata 07_gpu_kernels/cuda_softmax: one warp per row, the row's max and sum
// reduced across the warp's 32 lanes with shuffles (no shared memory, no __syncthreads).
#include <cmath>

#include "cuda_kernels.h"

namespace cuda_kernels {

constexpr int WARP = 32;
constexpr int WARPS_PER_BLOCK = 4;  // a block of 128 threads handles 4 rows
constexpr unsigned FULL_MASK = 0xffffffffu;

// Butterfly reduction: after the steps 16, 8, 4, 2, 1 every lane holds the result.
__device__ float warp_max(float v) {
  for (int offset = WARP / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, offset));
  }
  return v;
}

__device__ float warp_sum(float v) {
  for (int offset = WARP / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(FULL_MASK, v, offset);
  return v;
}

__global__ void softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y,
                                    int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % WARP;
  const int64_t row = int64_t(blockIdx.x) * WARPS_PER_BLOCK + threadIdx.x / WARP;
  // The whole warp leaves together (row is the same for its 32 lanes), so the shuffles below
  // always see all 32 lanes that FULL_MASK names.
  if (row >= rows) return;
  const float* x_row = x + row * cols;
  float* y_row = y + row * cols;

  // Lane l reads columns l, l + 32, ...: one warp-wide load reads 32 consecutive floats.
  // A lane with no column (cols < 32) keeps -inf and 0, which change neither the max nor the sum.
  float max = -INFINITY;
  for (int64_t j = lane; j < cols; j += WARP) max = fmaxf(max, x_row[j]);
  max = warp_max(max);

  // A row of all -inf has max = -inf, so x - max = NaN and the row comes out NaN, as in torch.
  float sum = 0.0f;
  for (int64_t j = lane; j < cols; j += WARP) sum += expf(x_row[j] - max);
  sum = warp_sum(sum);

  for (int64_t j = lane; j < cols; j += WARP) y_row[j] = expf(x_row[j] - max) / sum;
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  const unsigned blocks = unsigned((rows + WARPS_PER_BLOCK - 1) / WARPS_PER_BLOCK);
  softmax_rows_kernel<<<blocks, WARPS_PER_BLOCK * WARP, 0, stream>>>(x, y, rows, cols);
}

}  // namespace cuda_kernels
