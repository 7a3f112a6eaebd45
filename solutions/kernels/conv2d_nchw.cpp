// Reference conv2d via im2col: for each image, lay out every receptive field as a column of a
// (c*kh*kw) x (oh*ow) matrix, and the convolution becomes one matmul with the weights seen as an
// o x (c*kh*kw) matrix: out[n] (o x oh*ow) = weight @ columns. All the arithmetic then runs in
// the blocked, vectorised matmul; im2col itself is a copy (kh*kw times the input's size).
#include <algorithm>
#include <vector>

#include "kernels.h"

namespace kernels {

void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& sh) {
  const int64_t patch = sh.c * sh.kh * sh.kw, pixels = sh.oh * sh.ow;
  std::vector<float> columns(patch * pixels);
  for (int64_t img = 0; img < sh.n; ++img) {
    const float* image = x + img * sh.c * sh.h * sh.w;
    // Row (ch, dy, dx) of `columns` holds, for every output pixel, the input it sees through
    // that weight; out-of-image reads are the zero padding.
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < patch; ++row) {
      const int64_t ch = row / (sh.kh * sh.kw), dy = row / sh.kw % sh.kh, dx = row % sh.kw;
      const float* plane = image + ch * sh.h * sh.w;
      float* dst = columns.data() + row * pixels;
      for (int64_t oy = 0; oy < sh.oh; ++oy) {
        const int64_t iy = oy * sh.stride - sh.padding + dy;
        for (int64_t ox = 0; ox < sh.ow; ++ox) {
          const int64_t ix = ox * sh.stride - sh.padding + dx;
          const bool inside = iy >= 0 && iy < sh.h && ix >= 0 && ix < sh.w;
          dst[oy * sh.ow + ox] = inside ? plane[iy * sh.w + ix] : 0.0f;
        }
      }
    }
    float* result = out + img * sh.o * pixels;
    matmul(weight, columns.data(), result, sh.o, patch, pixels);
    if (bias != nullptr) {
#pragma omp parallel for schedule(static)
      for (int64_t oc = 0; oc < sh.o; ++oc) {
        std::for_each(result + oc * pixels, result + (oc + 1) * pixels,
                      [&](float& value) { value += bias[oc]; });
      }
    }
  }
}

}  // namespace kernels
