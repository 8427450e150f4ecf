// Activation rows quantized once per GEMM, the way the weights' dot products want them:
//   Q8_0 form (for Q8_0 / Q4_0 weights): per 32 values an int8 q[32] = round(x * 127 / amax), a
//            scale d (the f16-rounded amax / 127, as float) and the int sum of the 32 q.
//   Q8_K form (for Q4_K / Q5_K / Q6_K): per 256 values an int8 q[256], a float scale d
//            (max / -127 with the sign of the largest |x|) and the int16 sums of each 16 q.
// Rounding is to nearest even. One row's quantization never depends on other rows.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nano {

// Views into one row's quantized activations (either form may be empty).
struct QuantRowQ8_0 {
  const int8_t* q;    // (k)
  const float* d;     // (k / 32)
  const int32_t* s;   // (k / 32)
};
struct QuantRowQ8K {
  const int8_t* q;       // (k)
  const float* d;        // (k / 256)
  const int16_t* bsums;  // (k / 16)
};

// Bytes of one row holding both forms for k inputs (each section 64-byte aligned).
size_t quantActRowBytes(int k);

// Quantizes rows [0, m) of x (row stride ldx) into scratch rows of quantActRowBytes(k) each;
// Q8_0 form when wantQ8_0 (k % 32 == 0), Q8_K form when wantQ8K (k % 256 == 0).
using QuantizeActsFn = void (*)(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch);
void quantizeActs(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch);
// The same bits, 8 floats at a time (quant_acts_avx2.cpp; the SIMD kernels' quantizer): the
// same IEEE operation on every element, maxima and integer sums exact in any order.
void quantizeActsAvx2(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch);

// One row's block quantizers: Q8_0 (quants, f16-rounded scales, block sums) and Q8_K (quants,
// scales, sums of each 16).
struct ActBlockQuantizers {
  void (*q8_0)(const float* x, int k, int8_t* q, float* d, int32_t* s);
  void (*q8k)(const float* x, int k, int8_t* q, float* d, int16_t* bsums);
};
// The row walk both quantizeActs* share: each row's forms into its scratch row, by `quantizers`.
void quantizeActRows(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch,
                     ActBlockQuantizers quantizers);

// Section offsets inside one scratch row: [q8_0 q | q8_0 d | q8_0 s | q8k q | q8k d | q8k bsums],
// each 64-byte aligned. Inline: the kernels look rows up once per micro-tile.
struct QuantActLayout {
  size_t q0, d0, s0, qk, dk, bk, total;
  explicit QuantActLayout(int k) {
    const size_t n = size_t(k), b32 = n / 32, b256 = n / 256;
    q0 = 0;
    d0 = q0 + align64(n);
    s0 = d0 + align64(b32 * 4);
    qk = s0 + align64(b32 * 4);
    dk = qk + align64(n);
    bk = dk + align64(b256 * 4);
    total = bk + align64(n / 16 * 2);
  }
  static size_t align64(size_t n) { return (n + 63) / 64 * 64; }
};

inline QuantRowQ8_0 actRowQ8_0(const uint8_t* scratch, int k, int row) {
  const QuantActLayout L(k);
  const uint8_t* p = scratch + size_t(row) * L.total;
  return {reinterpret_cast<const int8_t*>(p + L.q0), reinterpret_cast<const float*>(p + L.d0),
          reinterpret_cast<const int32_t*>(p + L.s0)};
}

inline QuantRowQ8K actRowQ8K(const uint8_t* scratch, int k, int row) {
  const QuantActLayout L(k);
  const uint8_t* p = scratch + size_t(row) * L.total;
  return {reinterpret_cast<const int8_t*>(p + L.qk), reinterpret_cast<const float*>(p + L.dk),
          reinterpret_cast<const int16_t*>(p + L.bk)};
}

}  // namespace nano
