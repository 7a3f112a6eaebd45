// What steps 3-5 of the matmul ladder share, written once: the block sizes, zeroing C, and (from
// step 4) B packed into NR-wide panels. Each step's file holds only the idea that step adds.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../simd.h"

namespace kernels::ladder {

constexpr int64_t KC = 256;  // a slice of k: with NB below, a 256 x 256 block of B, 256 KiB: L2
constexpr int64_t NB = 256;  // columns of B's block in step 3
constexpr int64_t NV = 2;    // vectors in a row of a C tile (steps 4-5)
constexpr int64_t NR = NV * simd::lanes;  // columns of a C tile, of a packed B panel

// The steps accumulate into C from the first slice of k on, so C starts at zero (the reference
// instead writes C on the first slice and saves this pass).
inline void zero(float* c, int64_t count) { std::fill(c, c + count, 0.0f); }

// B's block (kc x nc at b, row stride ldb) as NR-wide panels, panel q at packed + q * kc * NR,
// row p of it at + p * NR: the order the inner loop reads it, zero-padded past nc.
inline void pack_b(const float* b, int64_t ldb, int64_t kc, int64_t nc, float* packed) {
  for (int64_t q = 0; q * NR < nc; ++q) {
    const int64_t cols = std::min(NR, nc - q * NR);
    for (int64_t p = 0; p < kc; ++p) {
      float* row = packed + (q * kc + p) * NR;
      std::copy(b + p * ldb + q * NR, b + p * ldb + q * NR + cols, row);
      std::fill(row + cols, row + NR, 0.0f);
    }
  }
}

// Adds the rows x cols corner of a full tile (row stride NR, computed with zero padding) to C:
// the edges go through the same tile as the middle, so the hot loop never branches on them.
inline void add_tile(const float* tile, int64_t rows, int64_t cols, float* c, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] += tile[i * NR + j];
  }
}

}  // namespace kernels::ladder
