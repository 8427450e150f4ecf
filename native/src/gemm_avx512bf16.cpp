// AVX512-BF16 GEMM for bf16 weights: activations are rounded to bf16 once per GEMM
// (round to nearest even), and vdpbf16ps multiplies a pair of k per instruction,
// twice the f32 FMA rate. Weights use the pair layout (block, k/2, 64 columns, 2).
// Each y element is one vdpbf16ps chain over k pairs in order, for any M and any
// tiling (K slices go through y exactly as in the f32 kernel): batch invariant.
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>
#include <utility>

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive on _mm512_setzero_ps
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")

#include "gemm_avx512_tile.h"

namespace nano {

namespace {

constexpr int kMaxRows = 6;
constexpr int kSliceBytes = 32 * 1024;  // weights of one block per K slice: 128 pairs x 64 columns x 4 bytes

// R rows x P panels over `pairs` k pairs; x holds each row's bf16 pairs as 32-bit words.
template <int R, int P>
struct PairTile {
  static void run(const uint32_t* x, int ldx, const uint16_t* w, int stride, int pairs, const float* bias, float* y,
                  int ldy, int cols, Slice s) {
    __m512 acc[R][P];
    startTile(acc, y, ldy, cols, s);
    for (int kp = 0; kp < pairs; ++kp) {
      __m512bh b[P];
      for (int p = 0; p < P; ++p)
        b[p] = (__m512bh)_mm512_loadu_si512(w + size_t(kp) * stride + p * kPanelWidth * 2);
      for (int r = 0; r < R; ++r) {
        __m512bh a = (__m512bh)_mm512_set1_epi32(int(x[size_t(r) * ldx + kp]));
        for (int p = 0; p < P; ++p) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], a, b[p]);
      }
    }
    storeTile(acc, bias, y, ldy, cols, s);
  }
};

void pairBlocks(const uint16_t* xPairs, int m, const PackedMatrix& w, int blockBegin, int blockEnd, const float* bias,
                float* y, int ldy) {
  markBuild(CloneFamily::Gemm, Build::Avx512Bf16);
  const int pairs = w.paddedK() / 2;
  const TileOperands<uint32_t, uint16_t> o{reinterpret_cast<const uint32_t*>(xPairs), pairs, m, w.bf16.data(), pairs,
                                           2, kSliceBytes, nullptr, bias, y, ldy};
  const int panelEnd = blockEnd * kBlockPanels < w.numPanels ? blockEnd * kBlockPanels : w.numPanels;
  walkPanels<PairTile, kMaxRows>(w, blockBegin * kBlockPanels, panelEnd, o);
}

// out (rows, 2 * pairs) = bf16(x) rounded to nearest even, zero-padded to an even k.
void toBf16Pairs(const float* x, int ldx, int rows, int k, uint16_t* out) {
  const int padded = (k + 1) / 2 * 2;
  for (int r = 0; r < rows; ++r) {
    const float* src = x + size_t(r) * ldx;
    uint16_t* dst = out + size_t(r) * padded;
    for (int i = 0; i < padded; i += 32) {
      int left = k - i;
      __mmask16 lo = left >= 16 ? __mmask16(0xffff) : left > 0 ? __mmask16((1u << left) - 1) : 0;
      __mmask16 hi = left >= 32 ? __mmask16(0xffff) : left > 16 ? __mmask16((1u << (left - 16)) - 1) : 0;
      __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + i + 16), _mm512_maskz_loadu_ps(lo, src + i));
      int count = padded - i < 32 ? padded - i : 32;
      _mm512_mask_storeu_epi16(dst + i, __mmask32(count == 32 ? 0xffffffffu : (1u << count) - 1), (__m512i)v);
    }
  }
}

}  // namespace

}  // namespace nano

#pragma GCC pop_options

namespace nano {

bool avx512Bf16Available() {
  __builtin_cpu_init();
  return avx512GemmAvailable() && __builtin_cpu_supports("avx512bf16");
}

GemmKernel avx512Bf16GemmKernel() {
  GemmKernel kernel = avx512GemmKernel();
  kernel.name = "avx512-bf16";
  kernel.runPairs = pairBlocks;
  kernel.toPairs = toBf16Pairs;
  return kernel;
}

}  // namespace nano

#else

namespace nano {
bool avx512Bf16Available() { return false; }
GemmKernel avx512Bf16GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
