// Kata 07_gpu_kernels/cuda_conv2d: write a 2-D convolution of NCHW images on the GPU as an
// implicit GEMM: the tiled matmul of cuda_matmul, whose A tiles are gathered from the image's
// receptive fields instead of read from a matrix. Lesson: katas/07_gpu_kernels/README.md,
// "CUDA conv2d". Hints: `kata hint cuda_conv2d`. After an edit, the next test that calls this
// kernel recompiles it with nvcc (ml_refresher.cuda_build).
#include "cuda_kernels.h"

namespace cuda_kernels {

// One block computes one (BM x BN) tile of the (n*oh*ow x o) output matrix; a thread computes
// TM x TN of its elements. The same tiles as cuda_matmul.
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;

// x: (n, c, h, w), weight: (o, c, kh, kw), bias: (o,) or nullptr, out: (n, o, oh, ow), all
// contiguous; the sizes, stride, padding, oh and ow are in sh (kernels.h). The GEMM: row
// (img, oy, ox) of the output matrix is an output pixel, column oc an output channel, and the
// reduction runs over (ch, dy, dx) < c*kh*kw:
//   out[img, oc, oy, ox] = bias[oc] + sum weight[oc, ch, dy, dx] * x[img, ch, oy*stride -
//   padding + dy, ox*stride - padding + dx], with 0 for reads outside the image.
// Launched with a (BM / TM, BN / TN) block and a (ceil(n*oh*ow / BM), ceil(o / BN)) grid: block
// (bx, by) owns pixels bx*BM.. and channels by*BN.. of the output matrix. The sizes need not be
// multiples of the tile: load 0 past an edge (and in the padding), store only inside.
__global__ void conv2d_nchw_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                   const float* __restrict__ bias, float* __restrict__ out,
                                   conv2d_shape sh) {
  // Write the kernel here.
}

void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& shape, cudaStream_t stream) {
  (void)x, (void)weight, (void)bias, (void)out, (void)shape, (void)stream;
  // dim3 block(BM / TM, BN / TN), grid(ceil(n * oh * ow / BM), ceil(o / BN));
  // conv2d_nchw_kernel<<<grid, block, 0, stream>>>(x, weight, bias, out, shape);
  throw not_implemented("kernels/cuda/conv2d_nchw.cu: write conv2d_nchw()");
}

}  // namespace cuda_kernels
