// The reference matmul's blocked driver with the packing of B handed to the caller, for kernels
// whose B is not a stored matrix. conv2d uses it to write its im2col columns straight from the
// image into the panels the micro-kernel reads, instead of building the columns and copying them.
#pragma once

#include <cstdint>
#include <functional>

#include "simd.h"

namespace kernels {

// Columns of a packed panel of B: the width of the micro-kernel's tile of C.
constexpr int64_t panel_cols = 2 * simd::lanes;

// Writes rows [pc, pc + kc) of B's columns [col, col + panel_cols) as packed[p * panel_cols + j]
// (row pc + p, column col + j), with zeros for the columns at or past n. Called from several
// threads at once when one product is split across them.
using pack_b_panel_fn =
    std::function<void(int64_t pc, int64_t kc, int64_t col, float* packed)>;

// c (m x n) = a (m x k) @ B, where pack_b writes B's panels; matmul() is this with a pack_b that
// copies them out of a stored b.
void matmul_packed_b(const float* a, const pack_b_panel_fn& pack_b, float* c, int64_t m,
                     int64_t k, int64_t n);

}  // namespace kernels
