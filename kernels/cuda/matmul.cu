// Kata 07_gpu_kernels/cuda_matmul: write c = a @ b on the GPU, first with shared-memory tiles,
// then with a register tile per thread. Lesson: katas/07_gpu_kernels/README.md, "CUDA matmul".
// Hints: `kata hint cuda_matmul`. After an edit, the next test that calls this kernel recompiles
// it with nvcc (ml_refresher.cuda_build).
#include "cuda_kernels.h"

namespace cuda_kernels {

// One block computes one (BM x BN) tile of c; a thread computes TM x TN of its elements.
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;

// a: (m, k), b: (k, n), c: (m, n), all row-major. Launched with a (BN / TN, BM / TM) block and a
// (ceil(n / BN), ceil(m / BM)) grid: block (bx, by) owns rows by*BM.. and columns bx*BN.. of c.
// m, k and n need not be multiples of the tile: load 0 past an edge, store only inside.
__global__ void matmul_kernel(const float* __restrict__ a, const float* __restrict__ b,
                              float* __restrict__ c, int64_t m, int64_t k, int64_t n) {
  // Write the kernel here.
}

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
            cudaStream_t stream) {
  (void)a, (void)b, (void)c, (void)m, (void)k, (void)n, (void)stream;
  // dim3 block(BN / TN, BM / TM), grid(ceil(n / BN), ceil(m / BM));
  // matmul_kernel<<<grid, block, 0, stream>>>(a, b, c, m, k, n);
  throw not_implemented("kernels/cuda/matmul.cu: write matmul()");
}

}  // namespace cuda_kernels
