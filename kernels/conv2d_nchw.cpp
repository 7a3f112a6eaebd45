// Kata 06_kernels/conv2d_nchw: write a 2-D convolution (cross-correlation, as torch) of NCHW
// images with OIHW weights. Lesson: katas/06_kernels/README.md.
// Hints: `kata hint conv2d_nchw`. After an edit, the next test that calls it recompiles it.
#include "kernels.h"

namespace kernels {

// out[n, o, y, x] = bias[o] + sum_{c, dy, dx} weight[o, c, dy, dx] * in[n, c, y*stride - padding
// + dy, x*stride - padding + dx], where reads outside the image are 0. Shapes are in `shape`
// (see kernels.h); bias may be nullptr. The fast way: im2col, then your matmul().
void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& shape) {
  (void)x, (void)weight, (void)bias, (void)out, (void)shape;
  throw not_implemented("kernels/conv2d_nchw.cpp: conv2d_nchw is not implemented yet");
}

}  // namespace kernels
