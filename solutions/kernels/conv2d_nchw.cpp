// Reference conv2d via im2col: for each image, lay out every receptive field as a column of a
// (c*kh*kw) x (oh*ow) matrix, and the convolution becomes one matmul with the weights seen as an
// o x (c*kh*kw) matrix: out[n] (o x oh*ow) = weight @ columns. All the arithmetic then runs in
// the blocked, vectorised matmul; im2col itself is a copy (kh*kw times the input's size).
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <vector>

#include "kernels.h"

namespace kernels {
namespace {

// a / b rounded down (C++ division rounds toward zero), for b > 0.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Row (ch, dy, dx) of `columns` holds, for every output pixel, the input it sees through that
// weight; reads outside the image are the zero padding. Per output row, the pixels that read
// inside the image form one range [x_begin, x_end): no bounds test in the copy loop.
void im2col(const float* image, const conv2d_shape& sh, float* columns) {
  const int64_t pixels = sh.oh * sh.ow;
  for (int64_t row = 0; row < sh.c * sh.kh * sh.kw; ++row) {
    const int64_t ch = row / (sh.kh * sh.kw), dy = row / sh.kw % sh.kh, dx = row % sh.kw;
    const float* plane = image + ch * sh.h * sh.w;
    // ox reads column ox * stride - shift: inside the image from ceil(shift / stride) to
    // floor((w - 1 + shift) / stride), both of which may be negative.
    const int64_t shift = sh.padding - dx;
    const int64_t x_begin = std::clamp(-floor_div(-shift, sh.stride), int64_t{0}, sh.ow);
    const int64_t x_end = std::clamp(floor_div(sh.w - 1 + shift, sh.stride) + 1, x_begin, sh.ow);
    for (int64_t oy = 0; oy < sh.oh; ++oy) {
      float* dst = columns + row * pixels + oy * sh.ow;
      const int64_t iy = oy * sh.stride - sh.padding + dy;
      if (iy < 0 || iy >= sh.h) {
        std::fill(dst, dst + sh.ow, 0.0f);
        continue;
      }
      const float* src = plane + iy * sh.w - shift;
      std::fill(dst, dst + x_begin, 0.0f);
      for (int64_t ox = x_begin; ox < x_end; ++ox) dst[ox] = src[ox * sh.stride];
      std::fill(dst + x_end, dst + sh.ow, 0.0f);
    }
  }
}

}  // namespace

void conv2d_nchw(const float* x, const float* weight, const float* bias, float* out,
                 const conv2d_shape& sh) {
  const int64_t patch = sh.c * sh.kh * sh.kw, pixels = sh.oh * sh.ow;
  int64_t threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  // With at least one image per thread, threads take whole images (one fork and join in all,
  // and matmul runs single-threaded inside); otherwise images go in turn and matmul splits each.
  const bool by_image = sh.n >= threads;
  // One buffer per thread, allocated here: an exception must not escape a parallel region.
  std::vector<float> columns((by_image ? threads : 1) * patch * pixels);
#pragma omp parallel if (by_image)
  {
    float* own_columns = columns.data();
#ifdef _OPENMP
    own_columns += omp_get_thread_num() * patch * pixels;
#endif
#pragma omp for schedule(static)
    for (int64_t img = 0; img < sh.n; ++img) {
      im2col(x + img * sh.c * sh.h * sh.w, sh, own_columns);
      float* result = out + img * sh.o * pixels;
      matmul(weight, own_columns, result, sh.o, patch, pixels);
      for (int64_t oc = 0; bias != nullptr && oc < sh.o; ++oc) {
        for (int64_t p = 0; p < pixels; ++p) result[oc * pixels + p] += bias[oc];
      }
    }
  }
}

}  // namespace kernels
