// Reference row-wise softmax: y = exp(x - max) / sum exp(x - max), one row at a time.
// Two passes over memory per row: read x for its max, then compute exp into y while summing,
// and scale y by 1/sum while that row is still in L1. The exp is computed once per element,
// with a vectorised polynomial (simd::exp), which is what decides the speed; while it runs, the
// next row is prefetched, so that its max pass reads cache instead of waiting on memory.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.h"
#include "simd.h"

namespace kernels {

using simd::vec;

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  const int64_t body = cols / simd::lanes * simd::lanes;
  constexpr float minus_inf = -std::numeric_limits<float>::infinity();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* out = y + r * cols;

    vec max_lanes = simd::broadcast(minus_inf);
    for (int64_t j = 0; j < body; j += simd::lanes) {
      max_lanes = simd::max(max_lanes, simd::load(in + j));
    }
    float max = simd::reduce_max(max_lanes);
    for (int64_t j = body; j < cols; ++j) max = std::max(max, in[j]);
    if (max == minus_inf) {  // every entry is -inf: 0/0, as torch answers
      std::fill(out, out + cols, std::numeric_limits<float>::quiet_NaN());
      continue;
    }

    const vec shift = simd::broadcast(max);
    vec sum_lanes{};
    const bool next_row = r + 1 < rows;
    for (int64_t j = 0; j < body; j += simd::lanes) {
      // One prefetch per 64-byte line of the next row (16 floats).
      if (next_row && j % 16 == 0) __builtin_prefetch(in + cols + j);
      const vec e = simd::exp(simd::load(in + j) - shift);
      simd::store(out + j, e);
      sum_lanes += e;
    }
    float sum = simd::reduce_sum(sum_lanes);
    for (int64_t j = body; j < cols; ++j) {
      out[j] = std::exp(in[j] - max);
      sum += out[j];
    }

    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < body; j += simd::lanes) simd::store(out + j, simd::load(out + j) * inv);
    for (int64_t j = body; j < cols; ++j) out[j] *= inv;
  }
}

}  // namespace kernels
