// Small SIMD vocabulary shared by the reference kernels: GCC/Clang vector extensions, sized to
// one register of the widest vector ISA the compiler targets (-march=native), so the compiler
// emits AVX-512, AVX2 or SSE instructions from the same source, without intrinsics.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace simd {

#if defined(__AVX512F__)
constexpr int64_t lanes = 16, registers = 32;
#elif defined(__AVX__)
constexpr int64_t lanes = 8, registers = 16;
#else
constexpr int64_t lanes = 4, registers = 16;
#endif
typedef float vec __attribute__((vector_size(lanes * sizeof(float))));
typedef int32_t ivec __attribute__((vector_size(lanes * sizeof(int32_t))));

// memcpy is how C++ spells an unaligned load/store without breaking aliasing rules; the compiler
// turns each into one vector move.
inline vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void store(float* p, vec v) { std::memcpy(p, &v, sizeof(v)); }

inline vec broadcast(float x) { return vec{} + x; }

inline float reduce_max(vec v) {
  float m = v[0];
  for (int64_t i = 1; i < lanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

inline float reduce_sum(vec v) {
  float s = 0.0f;
  for (int64_t i = 0; i < lanes; ++i) s += v[i];
  return s;
}

inline vec max(vec a, vec b) { return a > b ? a : b; }

// exp(x) for float32 lanes, about 2 ulp (the Cephes expf scheme): x = n*ln2 + r with
// |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n by writing n into the float's exponent bits.
// exp(-inf) = 0, exp(NaN) = NaN; inputs below -87.3 flush to 0 instead of becoming denormals.
inline vec exp(vec x) {
  const vec lo = broadcast(-87.3f), hi = broadcast(88.3f);  // 2^n stays a normal float
  const vec clamped = x < lo ? lo : (x > hi ? hi : x);
  const vec y = clamped * 1.44269504088896341f + 0.5f;
  const vec truncated = __builtin_convertvector(__builtin_convertvector(y, ivec), vec);
  // floor(y) = trunc(y) - 1 where trunc rounded a negative y up; the mask is -1 there.
  const vec n = truncated + __builtin_convertvector(truncated > y, vec);
  // Cody-Waite: ln2 split into a part exact in float and a small correction.
  const vec r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  vec p = broadcast(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const ivec bits = (__builtin_convertvector(n, ivec) + 127) << 23;
  vec scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const vec result = x < lo ? vec{} : p * scale;
  return x > hi ? broadcast(std::numeric_limits<float>::infinity()) : (x != x ? x : result);
}

}  // namespace simd
