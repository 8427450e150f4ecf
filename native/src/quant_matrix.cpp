#include "quant_matrix.h"

#include <cstring>

namespace nano {

uint16_t floatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000, absBits = bits & 0x7fffffff;
  if (absBits > 0x7f800000) return uint16_t(sign | 0x7e00);  // NaN
  if (absBits >= 0x477ff000) return uint16_t(sign | 0x7c00);  // rounds past the largest half: inf
  if (absBits < 0x38800000) {                                  // half subnormal (or zero)
    float f;
    std::memcpy(&f, &absBits, 4);
    // f * 2^24 is the subnormal's integer mantissa; round to nearest even.
    float scaled = f * 16777216.0f;
    uint32_t m = uint32_t(scaled);
    float frac = scaled - float(m);
    if (frac > 0.5f || (frac == 0.5f && (m & 1))) ++m;
    return uint16_t(sign | m);
  }
  uint32_t mant = absBits & 0x7fffff;
  uint32_t exp = (absBits >> 23) - 112;
  uint32_t half = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // may carry into the exponent: right
  return uint16_t(sign | half);
}

bool QuantMatrix::needsQ8_0() const {
  for (const QuantPart& p : parts)
    if (!quantTraits(p.type).usesQ8K) return true;
  return false;
}

bool QuantMatrix::needsQ8K() const {
  for (const QuantPart& p : parts)
    if (quantTraits(p.type).usesQ8K) return true;
  return false;
}

const QuantPart& QuantMatrix::partOfRow(int row) const {
  for (const QuantPart& p : parts)
    if (row < p.rowBegin + p.rows) return p;
  return parts.back();
}

std::shared_ptr<QuantMatrix> makeQuantMatrix(const std::vector<QuantSource>& sources, int k, QuantLayout layout) {
  auto m = std::make_shared<QuantMatrix>();
  m->k = k;
  size_t total = 0;
  for (const QuantSource& s : sources) {
    const QuantTraits& t = quantTraits(s.type);
    QuantPart p{s.type, m->n, s.rows, size_t(k / t.blockElems) * t.blockBytes, total};
    const int width = layout == QuantLayout::Interleaved16Q8Biased ? kInterleave16 : kInterleave;
    p.interleaved = layout != QuantLayout::Rows && interleavable(s.type, width);
    if (p.interleaved) {
      p.groupColumns = width;
      p.rowBytes = size_t(k / t.blockElems) * interleavedBlockBytes(s.type, p.groupColumns);  // one group
    }
    total += p.interleaved ? p.rowBytes * ((s.rows + p.groupColumns - 1) / p.groupColumns) : p.rowBytes * s.rows;
    m->n += s.rows;
    m->parts.push_back(p);
  }
  m->data.resize(total);
  for (size_t i = 0; i < sources.size(); ++i) {
    const QuantPart& p = m->parts[i];
    if (p.interleaved)
      interleaveRows(p.type, sources[i].bytes, p.rows, k, layout != QuantLayout::Interleaved, p.groupColumns,
                     m->data.data() + p.offset);
    else std::memcpy(m->data.data() + p.offset, sources[i].bytes, p.rowBytes * p.rows);
  }
  return m;
}

namespace {

void dequantQ8_0(const uint8_t* b, float* y) {
  const float d = halfToFloat(loadU16(b));
  for (int i = 0; i < 32; ++i) y[i] = float(int8_t(b[2 + i])) * d;
}

void dequantQ4_0(const uint8_t* b, float* y) {
  const float d = halfToFloat(loadU16(b));
  for (int i = 0; i < 16; ++i) {
    y[i] = float((b[2 + i] & 0xf) - 8) * d;
    y[i + 16] = float((b[2 + i] >> 4) - 8) * d;
  }
}

// Q4_K (hasHigh = false) and Q5_K: w = (d * sc) * q - (dmin * m).
void dequantK45(const uint8_t* b, float* y, bool hasHigh) {
  const float d = halfToFloat(loadU16(b)), dmin = halfToFloat(loadU16(b + 2));
  uint8_t sc[8], mn[8];
  unpackScalesK(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = hasHigh ? b + 48 : b + 16;
  for (int c = 0; c < 4; ++c) {
    const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
    const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
    for (int l = 0; l < 32; ++l) {
      int lo = qs[32 * c + l] & 0xf, hi = qs[32 * c + l] >> 4;
      if (hasHigh) {
        lo += (qh[l] >> (2 * c) & 1) << 4;
        hi += (qh[l] >> (2 * c + 1) & 1) << 4;
      }
      y[64 * c + l] = d1 * float(lo) - m1;
      y[64 * c + 32 + l] = d2 * float(hi) - m2;
    }
  }
}

void dequantQ6K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = halfToFloat(loadU16(b + 208));
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int s = l / 16;
      const uint8_t a = ql[64 * h + l], c = ql[64 * h + 32 + l], hb = qh[32 * h + l];
      const int q1 = ((a & 0xf) | ((hb & 3) << 4)) - 32;
      const int q2 = ((c & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
      const int q3 = ((a >> 4) | (((hb >> 4) & 3) << 4)) - 32;
      const int q4 = ((c >> 4) | (((hb >> 6) & 3) << 4)) - 32;
      float* yh = y + 128 * h;
      const int8_t* sh = sc + 8 * h;
      yh[l] = d * float(sh[s]) * float(q1);
      yh[l + 32] = d * float(sh[s + 2]) * float(q2);
      yh[l + 64] = d * float(sh[s + 4]) * float(q3);
      yh[l + 96] = d * float(sh[s + 6]) * float(q4);
    }
  }
}

}  // namespace

void dequantizeRow(QuantType type, const uint8_t* row, int k, float* out) {
  const QuantTraits& t = quantTraits(type);
  for (int b = 0; b < k / t.blockElems; ++b) {
    const uint8_t* block = row + size_t(b) * t.blockBytes;
    float* y = out + size_t(b) * t.blockElems;
    switch (type) {
      case QuantType::Q8_0: dequantQ8_0(block, y); break;
      case QuantType::Q4_0: dequantQ4_0(block, y); break;
      case QuantType::Q4_K: dequantK45(block, y, false); break;
      case QuantType::Q5_K: dequantK45(block, y, true); break;
      case QuantType::Q6_K: dequantQ6K(block, y); break;
    }
  }
}

}  // namespace nano
