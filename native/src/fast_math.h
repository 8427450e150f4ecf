// A vectorizable exp and fixed-order sums. Plain loops without calls, so the
// compiler vectorizes them (SSE on the portable build, AVX-512 in target clones);
// each lane does the same IEEE operations either way, so results are identical.
#pragma once
#include <cstdint>
#include <cstring>

namespace nano {

// exp(x) for float: x = n ln2 + r, |r| <= ln2/2, degree-6 Taylor on r (rel. error ~2e-7).
// Returns 0 below -87.3 (no subnormals), +inf above 88.
inline float expFast(float x) {
  const float lo = -87.3f, hi = 88.0f;
  float clamped = x < lo ? lo : (x > hi ? hi : x);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float t = clamped * 1.44269504088896341f + shifter;
  float n = t - shifter;
  float r = clamped - n * 0.693145751953125f;  // ln2 split in two for accuracy
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  float y = p * scale;
  y = x < lo ? 0.0f : y;
  return x > hi ? __builtin_inff() : y;
}

// Sum of x[0..n) in 16 lanes (lane = i % 16), then a fixed tree: the same for any caller.
inline float sumFixed(const float* x, int n) {
  float lanes[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] += x[i];
  for (int width = 8; width >= 1; width /= 2)
    for (int j = 0; j < width; ++j) lanes[j] += lanes[j + width];
  return lanes[0];
}

// Max of x[0..n) in 16 lanes (NaNs are skipped; max is exact, so only speed depends on the lanes).
inline float maxOf(const float* x, int n) {
  float lanes[16];
  for (int j = 0; j < 16; ++j) lanes[j] = -__builtin_inff();
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] = x[i] > lanes[j] ? x[i] : lanes[j];
  float m = lanes[0];
  for (int j = 1; j < 16; ++j) m = lanes[j] > m ? lanes[j] : m;
  return m;
}

}  // namespace nano
