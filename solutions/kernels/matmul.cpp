// Reference matmul: C = A @ B, row-major float32, in the structure of BLIS/GotoBLAS:
//
//   for jc: NC columns of B and C       (the packed block of B lives in L2/L3)
//     for pc: KC of the shared dimension (pack B[pc, jc] into NR-wide panels, all threads)
//       for ic: MC rows of A and C       (threads split here; each packs its A[ic, pc] into
//                                         MR-tall panels, which stay in its core's L2)
//         for jr: NR-wide panels of B    (one B panel stays in L1)
//           for ir: MR-tall panels of A  -> micro-kernel: an MR x NR tile of C in registers
//
// Packing copies each block once into the exact order the micro-kernel reads it, so the hot
// loop only does unit-stride loads; partial panels are zero-padded so the micro-kernel never
// branches on the edge, and only the store of an edge tile goes through a small buffer.
// matmul_packed_b (packed_gemm.h) is the same driver with B's panels written by the caller:
// conv2d packs them straight from the image.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "kernels.h"
#include "packed_gemm.h"
#include "simd.h"

namespace kernels {
namespace {

using simd::vec;

// Rows of the C tile: MR x NV accumulators take 24 of AVX-512's 32 vector registers (12 of
// AVX2's 16); the rest hold the NV vectors of B and the broadcast of A.
constexpr int64_t MR = simd::registers >= 32 ? 12 : 6;
constexpr int64_t NR = panel_cols;        // columns of the C tile
constexpr int64_t NV = NR / simd::lanes;
constexpr int64_t KC = 384;               // B panel: KC x NR floats, 48 KiB: L1
constexpr int64_t MC = 10 * MR;           // A block: MC x KC floats, <= 180 KiB: L2
constexpr int64_t NC = 3072;              // B block: KC x NC floats, 4.5 MiB: L3

struct free_deleter {
  void operator()(float* p) const { std::free(p); }
};

// 64-byte aligned scratch, so that packed panels start on a cache line. Allocated before any
// parallel region: an exception must not escape one (Python gets a MemoryError instead).
std::unique_ptr<float[], free_deleter> aligned_floats(int64_t count) {
  const size_t bytes = (static_cast<size_t>(count) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) throw std::bad_alloc();
  return std::unique_ptr<float[], free_deleter>(p);
}

// tile (MR x NR, row stride ldc) = a_panel (MR x kc, packed column by column) @ b_panel
// (kc x NR, packed row by row), added to the tile if accumulate. The MR x NV accumulators stay
// in registers for the whole k loop: each step is NV loads of B, MR broadcasts of A and
// MR * NV fused multiply-adds.
void micro_kernel(int64_t kc, const float* a_panel, const float* b_panel, float* tile,
                  int64_t ldc, bool accumulate) {
  // The tile of C is read and written only after the k loop, thousands of instructions later
  // than any out-of-order core looks ahead: fetch its rows (n floats apart, often in L3) now, so
  // that they are in L1 by then. 10-20% at 1024² and 2048² on one Zen 3 core.
#pragma GCC unroll 16
  for (int64_t i = 0; i < MR; ++i) {
    __builtin_prefetch(tile + i * ldc, 1);           // 1: for writing
    __builtin_prefetch(tile + i * ldc + NR - 1, 1);  // the row's last line, if it spans two
  }
  vec acc[MR][NV] = {};
  for (int64_t p = 0; p < kc; ++p) {
    vec b[NV];
#pragma GCC unroll 8
    for (int64_t v = 0; v < NV; ++v) b[v] = simd::load(b_panel + p * NR + v * simd::lanes);
#pragma GCC unroll 16
    for (int64_t i = 0; i < MR; ++i) {
      const float a = a_panel[p * MR + i];
#pragma GCC unroll 8
      for (int64_t v = 0; v < NV; ++v) acc[i][v] += a * b[v];
    }
  }
#pragma GCC unroll 16
  for (int64_t i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int64_t v = 0; v < NV; ++v) {
      float* out = tile + i * ldc + v * simd::lanes;
      simd::store(out, accumulate ? simd::load(out) + acc[i][v] : acc[i][v]);
    }
  }
}

// Panel q of A's block: rows [q*MR, q*MR + MR) of a (mc x kc, row stride lda), stored as
// packed[p*MR + i]; rows past mc are zero.
void pack_a_panel(const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t q, float* packed) {
  const int64_t rows = std::min(MR, mc - q * MR);
  for (int64_t p = 0; p < kc; ++p) {
    for (int64_t i = 0; i < rows; ++i) packed[p * MR + i] = a[(q * MR + i) * lda + p];
    for (int64_t i = rows; i < MR; ++i) packed[p * MR + i] = 0.0f;
  }
}

// A panel of b (kc x cols of it, row stride ldb), stored as packed[p*NR + j]; columns past
// cols are zero.
void pack_b_panel(const float* b, int64_t ldb, int64_t kc, int64_t cols, float* packed) {
  for (int64_t p = 0; p < kc; ++p) {
    const float* row = b + p * ldb;
    std::copy(row, row + cols, packed + p * NR);
    std::fill(packed + p * NR + cols, packed + (p + 1) * NR, 0.0f);
  }
}

}  // namespace

void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  const auto pack_b = [=](int64_t pc, int64_t kc, int64_t col, float* packed) {
    pack_b_panel(b + pc * n + col, n, kc, std::min(NR, n - col), packed);
  };
  matmul_packed_b(a, pack_b, c, m, k, n);
}

void matmul_packed_b(const float* a, const pack_b_panel_fn& pack_b, float* c, int64_t m,
                     int64_t k, int64_t n) {
  const int64_t nc_max = std::min(NC, (n + NR - 1) / NR * NR);
  const int64_t kc_max = std::min(KC, k);
  const int64_t mc_max = std::min(MC, (m + MR - 1) / MR * MR);
  const int64_t row_blocks = (m + MC - 1) / MC;
  // Waking threads costs microseconds on an idle machine and a scheduler time slice on a busy
  // one: below a few million multiply-adds one thread is faster.
  [[maybe_unused]] const bool worth_threads = m * n * k >= (int64_t{1} << 22);
  int64_t max_threads = 1;
#ifdef _OPENMP
  if (worth_threads) max_threads = omp_get_max_threads();
#endif
  auto b_packed = aligned_floats(kc_max * nc_max);
  auto a_packed = aligned_floats(max_threads * mc_max * kc_max);  // one A block per thread

#pragma omp parallel if (worth_threads)
  {
    int64_t threads = 1, thread = 0;
#ifdef _OPENMP
    threads = omp_get_num_threads();
    thread = omp_get_thread_num();
#endif
    float* a_block = a_packed.get() + thread * mc_max * kc_max;
    float edge[MR * NR];  // an edge tile of C, computed in full and then copied in part
    for (int64_t jc = 0; jc < n; jc += NC) {
      const int64_t nc = std::min(NC, n - jc);
      const int64_t b_panels = (nc + NR - 1) / NR;
      // Work items: a block of rows x a share of B's panels. Few row blocks (a short A) are
      // split across column shares too, so that every thread gets work.
      const int64_t shares = std::min(b_panels, (threads + row_blocks - 1) / row_blocks);
      for (int64_t pc = 0; pc < k; pc += KC) {
        const int64_t kc = std::min(KC, k - pc);
        const bool accumulate = pc > 0;  // the first slice of k writes C, later ones add to it
#pragma omp for schedule(static)
        for (int64_t q = 0; q < b_panels; ++q) {
          pack_b(pc, kc, jc + q * NR, b_packed.get() + q * kc * NR);
        }
        // Two barriers per slice of k (after packing B, after using it): with threads that the
        // OS sometimes deschedules, every barrier costs, so none are spent per block of A.
#pragma omp for collapse(2) schedule(static)
        for (int64_t block = 0; block < row_blocks; ++block) {
          for (int64_t share = 0; share < shares; ++share) {
            const int64_t ic = block * MC, mc = std::min(MC, m - ic);
            const int64_t a_panels = (mc + MR - 1) / MR;
            for (int64_t q = 0; q < a_panels; ++q) {
              pack_a_panel(a + ic * k + pc, k, mc, kc, q, a_block + q * kc * MR);
            }
            const int64_t jr_end = b_panels * (share + 1) / shares;
            for (int64_t jr = b_panels * share / shares; jr < jr_end; ++jr) {
              const int64_t cols = std::min(NR, nc - jr * NR);
              for (int64_t ir = 0; ir < a_panels; ++ir) {
                const int64_t rows = std::min(MR, mc - ir * MR);
                float* tile = c + (ic + ir * MR) * n + jc + jr * NR;
                const float* a_panel = a_block + ir * kc * MR;
                const float* b_panel = b_packed.get() + jr * kc * NR;
                if (rows == MR && cols == NR) {
                  micro_kernel(kc, a_panel, b_panel, tile, n, accumulate);
                  continue;
                }
                micro_kernel(kc, a_panel, b_panel, edge, NR, false);
                for (int64_t i = 0; i < rows; ++i) {
                  for (int64_t j = 0; j < cols; ++j) {
                    tile[i * n + j] = (accumulate ? tile[i * n + j] : 0.0f) + edge[i * NR + j];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace kernels
