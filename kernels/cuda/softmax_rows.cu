// Kata 07_gpu_kernels/cuda_softmax: write y = softmax(x) over each row on the GPU, one warp per
// row, with warp shuffles for the max and the sum. Lesson: katas/07_gpu_kernels/README.md,
// "CUDA softmax". Hints: `kata hint cuda_softmax`. After an edit, the next test that calls this
// kernel recompiles it with nvcc (ml_refresher.cuda_build).
#include "cuda_kernels.h"

namespace cuda_kernels {

constexpr int WARP = 32;
constexpr int WARPS_PER_BLOCK = 4;  // a block of 128 threads handles 4 rows

// x, y: (rows, cols), row-major. Launched with WARPS_PER_BLOCK * WARP threads per block and
// ceil(rows / WARPS_PER_BLOCK) blocks: warp w of block b owns row b * WARPS_PER_BLOCK + w, and
// its 32 lanes stride over the row's columns. y = exp(x - max) / sum exp(x - max); a row of all
// -inf gives NaN, as in torch.
__global__ void softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y,
                                    int64_t rows, int64_t cols) {
  // Write the kernel here.
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  (void)x, (void)y, (void)rows, (void)cols, (void)stream;
  // softmax_rows_kernel<<<ceil(rows / WARPS_PER_BLOCK), WARPS_PER_BLOCK * WARP, 0, stream>>>(...);
  throw not_implemented("kernels/cuda/softmax_rows.cu: write softmax_rows()");
}

}  // namespace cuda_kernels
