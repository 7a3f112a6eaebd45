// Reference for kata 07_gpu_kernels/cuda_conv2d: conv2d as an implicit GEMM. The convolution is
// the matmul out (pixels x o) = patches (pixels x c*kh*kw) @ weight^T (c*kh*kw x o), where row
// (img, oy, ox) of `patches` is the receptive field of that output pixel. The CPU kata writes
// that matrix out (im2col); here it is never stored: each tile of it is gathered from x straight
// into shared memory, and the rest is the tiled matmul of the cuda_matmul kata.
#include "cuda_kernels.h"

namespace cuda_kernels {

// A block of 16 x 16 threads computes a 64 x 64 tile of the (pixels x o) output matrix, 4 x 4
// elements per thread, over the patch axis in steps of 16: the tiles of cuda_matmul.
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int THREADS = (BM / TM) * (BN / TN);  // 256

// Rows of the GEMM (m) are output pixels (img, oy, ox) in out's order, columns are output
// channels oc, and the reduction index (p) runs over (ch, dy, dx) in weight's order, so that
// weight (o, c, kh, kw) is already the (o x patch) matrix: the B operand is its transpose.
__global__ void conv2d_nchw_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                   const float* __restrict__ bias, float* __restrict__ out,
                                   conv2d_shape sh) {
  // Both tiles are stored with the reduction index first: as[p][i] and ws[p][j], so the inner
  // loop reads a row of each. ws's +1 shifts each row by one bank: its loads walk p fastest
  // (weight is contiguous along the patch), which would otherwise put 16 threads' writes in one
  // bank; with it, at most 2 share one.
  __shared__ float as[BK][BM];
  __shared__ float ws[BK][BN + 1];

  const int tx = threadIdx.x, ty = threadIdx.y;  // 0..15 each
  const int tid = ty * blockDim.x + tx;          // 0..255
  const int64_t pixels = sh.oh * sh.ow, m = sh.n * pixels, patch = sh.c * sh.kh * sh.kw;
  const int64_t row0 = int64_t(blockIdx.x) * BM, col0 = int64_t(blockIdx.y) * BN;

  // Thread (tx, ty) owns pixels tx + 16 i and channels ty + 16 j of the tile: neighbouring
  // threads own neighbouring pixels, which are neighbouring addresses of out (and, for stride 1,
  // of x), so the warp's stores and patch loads are contiguous.
  float acc[TM][TN] = {};

  for (int64_t p0 = 0; p0 < patch; p0 += BK) {
    // The patch tile: element (i, p) is x[img, ch, oy * stride - padding + dy, ox * stride -
    // padding + dx], or 0 where that falls in the padding, past the last pixel or past the patch.
    // Consecutive threads take consecutive pixels (i).
    for (int e = tid; e < BM * BK; e += THREADS) {
      const int i = e % BM, p = e / BM;
      const int64_t row = row0 + i, q = p0 + p;
      float value = 0.0f;
      if (row < m && q < patch) {
        const int64_t img = row / pixels, oy = row % pixels / sh.ow, ox = row % sh.ow;
        const int64_t ch = q / (sh.kh * sh.kw), dy = q / sh.kw % sh.kh, dx = q % sh.kw;
        const int64_t iy = oy * sh.stride - sh.padding + dy;
        const int64_t ix = ox * sh.stride - sh.padding + dx;
        if (iy >= 0 && iy < sh.h && ix >= 0 && ix < sh.w) {
          value = x[((img * sh.c + ch) * sh.h + iy) * sh.w + ix];
        }
      }
      as[p][i] = value;
    }
    // The weight tile: element (p, j) is weight[col0 + j, p0 + p]; consecutive threads take
    // consecutive p, contiguous in weight.
    for (int e = tid; e < BK * BN; e += THREADS) {
      const int p = e % BK, j = e / BK;
      const int64_t q = p0 + p, col = col0 + j;
      ws[p][j] = (q < patch && col < sh.o) ? weight[col * patch + q] : 0.0f;
    }
    __syncthreads();  // the tiles are complete before anyone reads them

#pragma unroll
    for (int p = 0; p < BK; ++p) {
      float a_reg[TM], w_reg[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a_reg[i] = as[p][tx + i * (BM / TM)];
#pragma unroll
      for (int j = 0; j < TN; ++j) w_reg[j] = ws[p][ty + j * (BN / TN)];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a_reg[i] * w_reg[j];
      }
    }
    __syncthreads();  // everyone is done with the tiles before the next step overwrites them
  }

  // Element (row, col) of the output matrix is out[img, col, oy, ox]: (img, oy, ox) = row, so
  // out's offset is img * o * pixels + col * pixels + (row % pixels).
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t row = row0 + tx + i * (BM / TM);
    if (row >= m) continue;
    const int64_t img = row / pixels, pixel = row % pixels;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t col = col0 + ty + j * (BN / TN);
      if (col < sh.o) {
        out[(img * sh.o + col) * pixels + pixel] = acc[i][j] + (bias ? bias[col] : 0.0f);
      }
    }
  }
}

void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& shape, cudaStream_t stream) {
  const int64_t m = shape.n * shape.oh * shape.ow;
  const dim3 block(BM / TM, BN / TN);
  const dim3 grid(unsigned((m + BM - 1) / BM), unsigned((shape.o + BN - 1) / BN));
  conv2d_nchw_kernel<<<grid, block, 0, stream>>>(x, weight, bias, out, shape);
}

}  // namespace cuda_kernels
