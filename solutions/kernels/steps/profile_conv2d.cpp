// A main() for timing and profiling conv2d outside Python, on the bench's shape (N images,
// 64 -> 64 channels, 32x32, 3x3, padding 1): prints the fastest of `calls` calls. With "matmul"
// it times instead what the convolution's arithmetic is, one matmul per image of the weights
// (64 x 576) by the columns (576 x 1024). Built with the reference, from the checkout's root:
//   g++ -O3 -march=native -ffp-contract=fast -fopenmp -Ikernels -Isolutions/kernels
//       solutions/kernels/matmul.cpp solutions/kernels/conv2d_nchw.cpp
//       solutions/kernels/steps/profile_conv2d.cpp -o /tmp/conv2d      (one command)
//   OMP_NUM_THREADS=1 /tmp/conv2d 32 8             (and: /tmp/conv2d 32 8 matmul)
//   OMP_NUM_THREADS=1 valgrind --tool=callgrind --cache-sim=yes --D1=32768,8,64
//       --LL=524288,8,64 /tmp/conv2d 4 1           (Zen 3's L1d and L2; one command)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atol(argv[1]) : 4;
  const int calls = argc > 2 ? std::atoi(argv[2]) : 1;
  const bool matmul_only = argc > 3 && std::strcmp(argv[3], "matmul") == 0;
  const kernels::conv2d_shape sh{n, 64, 32, 32, 64, 3, 3, 1, 1, 32, 32};
  const int64_t patch = sh.c * sh.kh * sh.kw, pixels = sh.oh * sh.ow;
  std::vector<float> x(n * sh.c * sh.h * sh.w, 1.0f), weight(sh.o * patch, 0.5f), bias(sh.o);
  std::vector<float> columns(patch * pixels, 1.0f), out(n * sh.o * pixels);
  double best = 1e30;
  for (int call = 0; call < calls; ++call) {
    const auto start = std::chrono::steady_clock::now();
    if (matmul_only) {
      for (int64_t img = 0; img < n; ++img) {
        kernels::matmul(weight.data(), columns.data(), out.data() + img * sh.o * pixels, sh.o,
                        patch, pixels);
      }
    } else {
      kernels::conv2d_nchw(x.data(), weight.data(), bias.data(), out.data(), sh);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  // Inside the image every output is 576 * 0.5 = 288; printing one keeps the calls from being
  // optimised out.
  std::printf("%s, %ld images: fastest of %d call(s) %.2f ms, %.1f GFLOP/s (out = %g)\n",
              matmul_only ? "matmul" : "conv2d", (long)n, calls, best * 1e3,
              2.0 * n * sh.o * patch * pixels / best / 1e9, out[pixels + sh.ow + 1]);
}
