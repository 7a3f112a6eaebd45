// Reference conv2d: im2col packed straight into the matmul's panels. For one image the
// convolution is a matmul, out[n] (o x oh*ow) = weight (o x c*kh*kw) @ columns, where column p
// of `columns` holds the inputs output pixel p sees (im2col). Building `columns` and handing it
// to matmul() copies that matrix twice (im2col, then matmul's packing), and at kh*kw times the
// image's size it is far bigger than L2. Here the matmul asks for one NR-wide panel of columns
// at a time (packed_gemm.h), and im2col_panel writes it in the order the micro-kernel reads it,
// straight from the image, which stays in L2. The image is first copied into a buffer with the
// padding's zeros around each channel plane, so that no read needs a bounds test.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "packed_gemm.h"

namespace kernels {
namespace {

// Sizes of a channel plane with the padding around it.
int64_t padded_width(const conv2d_shape& sh) { return sh.w + 2 * sh.padding; }
int64_t padded_plane(const conv2d_shape& sh) { return (sh.h + 2 * sh.padding) * padded_width(sh); }

// Row (ch, dy, dx) of the im2col matrix reads, for output pixel (oy, ox), the padded image at
// offsets[row] + oy * stride * padded width + ox * stride.
std::vector<int64_t> column_offsets(const conv2d_shape& sh) {
  std::vector<int64_t> offsets(sh.c * sh.kh * sh.kw);
  for (int64_t row = 0; row < static_cast<int64_t>(offsets.size()); ++row) {
    const int64_t ch = row / (sh.kh * sh.kw), dy = row / sh.kw % sh.kh, dx = row % sh.kw;
    offsets[row] = ch * padded_plane(sh) + dy * padded_width(sh) + dx;
  }
  return offsets;
}

// Copies the image inside the padding of `padded`, whose border stays as it was allocated: zero.
void pad_image(const float* image, const conv2d_shape& sh, float* padded) {
  for (int64_t ch = 0; ch < sh.c; ++ch) {
    for (int64_t y = 0; y < sh.h; ++y) {
      const float* src = image + (ch * sh.h + y) * sh.w;
      std::copy(src, src + sh.w,
                padded + ch * padded_plane(sh) + (y + sh.padding) * padded_width(sh) + sh.padding);
    }
  }
}

// Rows [pc, pc + kc) of the columns [col, col + panel_cols) of one image's im2col matrix, as
// packed[p * panel_cols + j]; columns past the last pixel are zero. A panel's pixels fall in
// runs along output rows, and within a run row p of the panel is a read along one padded row.
void im2col_panel(const float* padded, const conv2d_shape& sh, const std::vector<int64_t>& offsets,
                  int64_t pc, int64_t kc, int64_t col, float* packed) {
  const int64_t end = std::min(col + panel_cols, sh.oh * sh.ow);
  for (int64_t pixel = col; pixel < end;) {
    const int64_t oy = pixel / sh.ow, run_begin = pixel % sh.ow;
    const int64_t run_end = std::min(sh.ow, run_begin + end - pixel);  // ox past the run
    const float* window = padded + oy * sh.stride * padded_width(sh);  // + offsets[row]: src
    float* dst = packed + pixel - col - run_begin;  // dst[p * panel_cols + ox]
    if (sh.stride == 1 && run_end - run_begin == panel_cols) {  // most panels: vector copies
      for (int64_t p = 0; p < kc; ++p) {
        std::memcpy(dst + p * panel_cols + run_begin, window + offsets[pc + p] + run_begin,
                    panel_cols * sizeof(float));
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = window + offsets[pc + p];
        float* out = dst + p * panel_cols;
        for (int64_t ox = run_begin; ox < run_end; ++ox) out[ox] = src[ox * sh.stride];
      }
    }
    pixel += run_end - run_begin;
  }
  for (int64_t p = 0; p < kc; ++p) {
    std::fill(packed + p * panel_cols + end - col, packed + (p + 1) * panel_cols, 0.0f);
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
  // and the matmul runs single-threaded inside); otherwise images go in turn and the matmul
  // splits each. Buffers are allocated here: an exception must not escape a parallel region.
  const bool by_image = sh.n >= threads;
  const std::vector<int64_t> offsets = column_offsets(sh);
  std::vector<float> padded_images((by_image ? threads : 1) * sh.c * padded_plane(sh));  // zeros
#pragma omp parallel if (by_image)
  {
    float* padded = padded_images.data();
#ifdef _OPENMP
    padded += omp_get_thread_num() * sh.c * padded_plane(sh);  // 0 when images go in turn
#endif
#pragma omp for schedule(static)
    for (int64_t img = 0; img < sh.n; ++img) {
      pad_image(x + img * sh.c * sh.h * sh.w, sh, padded);
      const auto pack_columns = [&](int64_t pc, int64_t kc, int64_t col, float* panel) {
        im2col_panel(padded, sh, offsets, pc, kc, col, panel);
      };
      float* result = out + img * sh.o * pixels;
      matmul_packed_b(weight, pack_columns, result, sh.o, patch, pixels);
      for (int64_t oc = 0; bias != nullptr && oc < sh.o; ++oc) {
        for (int64_t p = 0; p < pixels; ++p) result[oc * pixels + p] += bias[oc];
      }
    }
  }
}

}  // namespace kernels
