// A main() for profiling one step of the ladder outside Python (cachegrind, perf): calls matmul
// on n x n ones `calls` times and prints the fastest call. Built with a step, e.g.
//   g++ -O3 -march=native -mno-avx512f -ffp-contract=fast -fopenmp -Ikernels \
//       solutions/kernels/steps/matmul_1_naive.cpp solutions/kernels/steps/profile_main.cpp \
//       -o /tmp/step1 && OMP_NUM_THREADS=1 valgrind --tool=cachegrind --cache-sim=yes \
//       --D1=49152,12,64 --LL=2097152,16,64 /tmp/step1 512
// (-mno-avx512f: valgrind does not run AVX-512 code).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels.h"

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atol(argv[1]) : 512;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 1;
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n);
  double best = 1e30;
  for (int call = 0; call < calls; ++call) {
    const auto start = std::chrono::steady_clock::now();
    kernels::matmul(a.data(), b.data(), c.data(), n, n, n);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  // c = n * 0.5 everywhere: printing one element also keeps the call from being optimised out.
  std::printf("%ldx%ld: fastest of %d call(s) %.2f ms, %.1f GFLOP/s (c[0] = %g)\n", (long)n,
              (long)n, calls, best * 1e3, 2.0 * n * n * n / best / 1e9, c[0]);
}
