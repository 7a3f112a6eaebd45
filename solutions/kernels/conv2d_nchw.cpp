// Reference conv2d via im2col: for each image, lay out every receptive field as a column of a
// (c*kh*kw) x (oh*ow) matrix, and the convolution becomes one matmul with the weights seen as an
// o x (c*kh*kw) matrix: out[n] (o x oh*ow) = weight @ columns. All the arithmetic then runs in
// the blocked, vectorised matmul; im2col itself is a copy (kh*kw times the input's size).
#ifdef _OPENMP
#include <omp.h>
#endif

#include <vector>

#include "kernels.h"

namespace kernels {
namespace {

// Row (ch, dy, dx) of `columns` holds, for every output pixel, the input it sees through that
// weight; reads outside the image are the zero padding.
void im2col(const float* image, const conv2d_shape& sh, float* columns) {
  const int64_t pixels = sh.oh * sh.ow;
  for (int64_t row = 0; row < sh.c * sh.kh * sh.kw; ++row) {
    const int64_t ch = row / (sh.kh * sh.kw), dy = row / sh.kw % sh.kh, dx = row % sh.kw;
    const float* plane = image + ch * sh.h * sh.w;
    float* dst = columns + row * pixels;
    for (int64_t oy = 0; oy < sh.oh; ++oy) {
      const int64_t iy = oy * sh.stride - sh.padding + dy;
      for (int64_t ox = 0; ox < sh.ow; ++ox) {
        const int64_t ix = ox * sh.stride - sh.padding + dx;
        const bool inside = iy >= 0 && iy < sh.h && ix >= 0 && ix < sh.w;
        dst[oy * sh.ow + ox] = inside ? plane[iy * sh.w + ix] : 0.0f;
      }
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
