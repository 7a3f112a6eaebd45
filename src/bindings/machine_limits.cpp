// The machine's own limits, for `kata bench` (ml_refresher.bench): the FP32 FMA peak of one core
// and the streaming bandwidth, so that each kernel's rate can be shown as a % of what the CPU can
// do, not only as a ratio to torch. Plain C functions, loaded with ctypes (no Python headers), and
// compiled with the kernels' flags (-O3 -march=native): the widest vectors this build targets.
#include <chrono>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
// FMA latency is 4 cycles on current x86 cores, with up to 2 FMA units: 8 chains in flight keep
// both busy; 12 leave headroom for a 5-6 cycle latency and still fit in 16 (AVX2) or 32 registers.
constexpr int kAccumulators = 12;

typedef float vfloat __attribute__((vector_size(kLanes * sizeof(float))));

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

extern "C" {

int fma_lanes() { return kLanes; }
int fma_accumulators() { return kAccumulators; }

// `iterations` x kAccumulators independent vector FMAs, acc = acc * a + b, on one thread. a < 1
// makes acc converge to b / (1 - a): no overflow and no denormals (which would be slow). The
// result goes to *sink so the compiler cannot drop the loop. Returns the seconds taken; the work
// is 2 * kLanes * kAccumulators * iterations FLOPs.
double fma_loop(int64_t iterations, float seed, float* sink) {
  vfloat acc[kAccumulators];
  const vfloat a = vfloat{} + 0.999999f;  // a scalar broadcast: both stay in registers
  const vfloat b = vfloat{} + 1e-3f * seed;
  for (int j = 0; j < kAccumulators; ++j) {
    for (int l = 0; l < kLanes; ++l) acc[j][l] = seed + static_cast<float>(j + l);
  }
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kAccumulators; ++j) acc[j] = acc[j] * a + b;  // one vfmadd each
  }
  double elapsed = seconds_since(start);
  float total = 0.0f;
  for (int j = 0; j < kAccumulators; ++j) {
    for (int l = 0; l < kLanes; ++l) total += acc[j][l];
  }
  *sink = total;
  return elapsed;
}

// STREAM's triad, x[i] = y[i] + s * z[i], over n floats on `threads` threads (0: OpenMP's
// default). Counted as 12 bytes per element (two reads, one write; the write-allocate read of x
// is not counted, as STREAM and the softmax row of the table do). Returns the seconds taken.
double triad(float* x, const float* y, const float* z, int64_t n, float s, int threads) {
#ifdef _OPENMP
  int team = threads > 0 ? threads : omp_get_max_threads();
#endif
  auto start = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static) num_threads(team)
  for (int64_t i = 0; i < n; ++i) x[i] = y[i] + s * z[i];
  return seconds_since(start);
}

}  // extern "C"
