#include "quant_acts.h"

#include <cmath>
#include <cstring>

#include "isa.h"
#include "quant_format.h"

namespace nano {

namespace {

using Layout = QuantActLayout;

// Round to nearest even for |v| <= 2^22 (activation quants are within +-128): adding 1.5 * 2^23
// leaves the rounded integer in the low mantissa bits. No libm call, no rounding-mode read.
inline int nearestEven(float v) {
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

void quantizeQ8_0(const float* x, int k, int8_t* q, float* d, int32_t* s) {
  for (int b = 0; b < k / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float scale = amax / 127;
    const float inv = amax != 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      int v = nearestEven(xb[i] * inv);
      v = v > 127 ? 127 : v < -127 ? -127 : v;
      q[b * 32 + i] = int8_t(v);
      sum += v;
    }
    d[b] = halfToFloat(floatToHalf(scale));
    s[b] = sum;
  }
}

void quantizeQ8K(const float* x, int k, int8_t* q, float* d, int16_t* bsums) {
  for (int b = 0; b < k / 256; ++b) {
    const float* xb = x + b * 256;
    int8_t* qb = q + b * 256;
    float amax = 0, max = 0;
    for (int i = 0; i < 256; ++i) {
      if (std::fabs(xb[i]) > amax) { amax = std::fabs(xb[i]); max = xb[i]; }
    }
    const float inv = amax != 0 ? -127.0f / max : 0.0f;
    for (int i = 0; i < 256; ++i) {
      int v = nearestEven(inv * xb[i]);
      qb[i] = int8_t(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += qb[g * 16 + i];
      bsums[b * 16 + g] = int16_t(sum);
    }
    d[b] = amax != 0 ? 1.0f / inv : 0.0f;
  }
}

}  // namespace

size_t quantActRowBytes(int k) { return Layout(k).total; }

void quantizeActRows(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch,
                     ActBlockQuantizers quantizers) {
  const Layout L(k);
  for (int r = 0; r < m; ++r) {
    uint8_t* row = scratch + size_t(r) * L.total;
    const float* xr = x + size_t(r) * ldx;
    if (wantQ8_0)
      quantizers.q8_0(xr, k, reinterpret_cast<int8_t*>(row + L.q0), reinterpret_cast<float*>(row + L.d0),
                      reinterpret_cast<int32_t*>(row + L.s0));
    if (wantQ8K)
      quantizers.q8k(xr, k, reinterpret_cast<int8_t*>(row + L.qk), reinterpret_cast<float*>(row + L.dk),
                     reinterpret_cast<int16_t*>(row + L.bk));
  }
}

void quantizeActs(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch) {
  markBuild(CloneFamily::QuantActs, Build::Portable);
  quantizeActRows(x, ldx, m, k, wantQ8_0, wantQ8K, scratch, {quantizeQ8_0, quantizeQ8K});
}

}  // namespace nano
