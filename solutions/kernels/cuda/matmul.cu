// Reference for kata 07_gpu_kernels/cuda_matmul: c = a @ b with shared-memory tiles of a and b
// and a 4 x 4 register tile of c per thread.
#include "cuda_kernels.h"

namespace cuda_kernels {

// A block of 16 x 16 threads computes a 64 x 64 tile of c, 4 x 4 elements per thread, over
// k in steps of 16. Each step loads a 64 x 16 tile of a and a 16 x 64 tile of b into shared
// memory once; every element loaded is then used 64 times from there (and each value a thread
// reads from shared memory is used 4 times from a register).
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int THREADS = (BM / TM) * (BN / TN);  // 256

__global__ void matmul_kernel(const float* __restrict__ a, const float* __restrict__ b,
                              float* __restrict__ c, int64_t m, int64_t k, int64_t n) {
  // a's tile is stored transposed (as[p][i]), so that the inner loop reads a column of it as a
  // row. The +1 shifts each row by one bank: the transposing store would otherwise put 16
  // threads' writes into the same bank.
  __shared__ float as[BK][BM + 1];
  __shared__ float bs[BK][BN];

  const int tx = threadIdx.x, ty = threadIdx.y;  // 0..15 each
  const int tid = ty * blockDim.x + tx;          // 0..255
  const int64_t row0 = int64_t(blockIdx.y) * BM, col0 = int64_t(blockIdx.x) * BN;

  // Thread (tx, ty) owns rows ty + 16 i and columns tx + 16 j of the tile: neighbouring threads
  // own neighbouring columns, so the warp's loads of bs and stores of c are contiguous.
  float acc[TM][TN] = {};

  for (int64_t p0 = 0; p0 < k; p0 += BK) {
    // Consecutive threads load consecutive addresses (coalesced): along k for a, along n for b.
    // Past an edge the tile holds 0, which adds nothing to the sums.
    for (int e = tid; e < BM * BK; e += THREADS) {
      const int i = e / BK, p = e % BK;
      const int64_t row = row0 + i, q = p0 + p;
      as[p][i] = (row < m && q < k) ? a[row * k + q] : 0.0f;
    }
    for (int e = tid; e < BK * BN; e += THREADS) {
      const int p = e / BN, j = e % BN;
      const int64_t q = p0 + p, col = col0 + j;
      bs[p][j] = (q < k && col < n) ? b[q * n + col] : 0.0f;
    }
    __syncthreads();  // the tiles are complete before anyone reads them

#pragma unroll
    for (int p = 0; p < BK; ++p) {
      float a_reg[TM], b_reg[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a_reg[i] = as[p][ty + i * (BM / TM)];
#pragma unroll
      for (int j = 0; j < TN; ++j) b_reg[j] = bs[p][tx + j * (BN / TN)];
#pragma unroll
      for (int i = 0; i < TM; ++i) {
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += a_reg[i] * b_reg[j];
      }
    }
    __syncthreads();  // everyone is done with the tiles before the next step overwrites them
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t row = row0 + ty + i * (BM / TM);
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t col = col0 + tx + j * (BN / TN);
      if (row < m && col < n) c[row * n + col] = acc[i][j];
    }
  }
}

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
            cudaStream_t stream) {
  const dim3 block(BN / TN, BM / TM);
  const dim3 grid(unsigned((n + BN - 1) / BN), unsigned((m + BM - 1) / BM));
  matmul_kernel<<<grid, block, 0, stream>>>(a, b, c, m, k, n);
}

}  // namespace cuda_kernels
