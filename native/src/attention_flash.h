// The body of the flash attention kernel, one block of tokens x heads: included by
// attention.cpp only, which compiles it once per instruction set (target attributes) and
// per KV element type. Everything is always_inline, so each copy is built for its target;
// no FMA contraction, so every lane does the same IEEE operations in every copy.
#pragma once
#include <cmath>
#include <cstring>

#include "attention.h"
#include "fast_math.h"
#include "kv_element.h"

namespace nano {
namespace {

#define NANO_INLINE __attribute__((always_inline)) inline

typedef float Vec16 __attribute__((vector_size(64)));
typedef _Float16 Half16 __attribute__((vector_size(32)));
typedef uint16_t U16x16 __attribute__((vector_size(32)));
typedef uint32_t U32x16 __attribute__((vector_size(64)));

NANO_INLINE Vec16 load16(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
NANO_INLINE Vec16 load16(const _Float16* p) {
  Half16 h;
  std::memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, Vec16);
}
NANO_INLINE Vec16 load16(const Bf16* p) {
  U16x16 h;
  std::memcpy(&h, p, sizeof h);
  U32x16 bits = __builtin_convertvector(h, U32x16) << 16;
  Vec16 v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
NANO_INLINE void store16(float* p, Vec16 v) { std::memcpy(p, &v, sizeof v); }

constexpr int kInterleave = 4;  // rows whose chains run side by side (latency)

// One block: tokens [tokBegin, tokEnd) of one sequence, kv heads [g0, g1) (and their query heads).
struct FlashBlock {
  const KvCache* kv;
  int layer, window, g0, g1;
  const float* qkv;
  int rowWidth;               // q of token i, head h: qkv + i * rowWidth + h * head_dim
  const int32_t* positions;   // (tok)
  const int32_t* pages;       // the sequence's page table
  int tokBegin, tokEnd;
  float* out;                 // (tok, qDim)
  float* scratch;             // AttentionScratch::floatsPerThread()
};

// A row: one (token, query head). Keys it attends to: positions [first, last].
struct RowView {
  const float* q;
  float* acc;     // (head_dim) running sum of weighted values
  float* scores;  // (page size rounded to 16) this page's scores, then weights
  float* stats;   // [running max, running sum]
  int kvHead, first, last;
};

// For H rows: sc_h[0..16) = q_h . k for 16 slots of transposed key blocks (head_dim, ps).
template <int H, class T>
NANO_INLINE void scoreRows(const float* const* q, const T* const* keys, int hd, int ps, float* const* sc) {
  Vec16 acc[H] = {};
  for (int d = 0; d < hd; ++d)
    for (int h = 0; h < H; ++h) acc[h] += q[h][d] * load16(keys[h] + size_t(d) * ps);
  for (int h = 0; h < H; ++h) store16(sc[h], acc[h]);
}

template <class T>
NANO_INLINE float score1(const float* q, const T* keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * loadKv(keys + size_t(d) * ps);
  return acc;
}

// For H rows over the same slots [j0, j1): acc_h[d0..d0+16) += w_h[j] v_h[j][d0..], j in order.
template <int H, class T>
NANO_INLINE void weighRows(const T* const* v, const float* const* w, int j0, int j1, int hd, int d0,
                           float* const* acc) {
  Vec16 a[H];
  for (int h = 0; h < H; ++h) a[h] = load16(acc[h] + d0);
  for (int j = j0; j < j1; ++j)
    for (int h = 0; h < H; ++h) a[h] += w[h][j] * load16(v[h] + size_t(j) * hd + d0);
  for (int h = 0; h < H; ++h) store16(acc[h] + d0, a[h]);
}

// Calls F<n>(args...) for n = 1..kInterleave (no lambdas: a lambda would not inherit the
// caller's target and could run as the baseline copy).
#define NANO_BY_COUNT(n, call)           \
  switch (n) {                           \
    case 4: call(4); break;              \
    case 3: call(3); break;              \
    case 2: call(2); break;              \
    default: call(1); break;             \
  }

// Scores of rows[0..n) against page `page` (all its slots; masking comes after).
template <class T>
NANO_INLINE void scorePage(const FlashBlock& b, const RowView* rows, int n, int page, int hd, int ps) {
  const float* qs[kInterleave];
  const T* ks[kInterleave];
  float* scs[kInterleave];
  for (int i = 0; i < n; ++i) {
    qs[i] = rows[i].q;
    ks[i] = b.kv->template keys<T>(b.layer, page, rows[i].kvHead);
    scs[i] = rows[i].scores;
  }
  int j0 = 0;
  for (; ps - j0 >= 16; j0 += 16) {
    const T* kj[kInterleave];
    float* sj[kInterleave];
    for (int i = 0; i < n; ++i) kj[i] = ks[i] + j0, sj[i] = scs[i] + j0;
#define NANO_SCORE(H) scoreRows<H>(qs, kj, hd, ps, sj)
    NANO_BY_COUNT(n, NANO_SCORE)
#undef NANO_SCORE
  }
  for (; j0 < ps; ++j0)
    for (int i = 0; i < n; ++i) scs[i][j0] = score1(qs[i], ks[i] + j0, hd, ps);
}

// Online softmax step of one row over its slots [j0, j1) of a page: rescale what it holds
// when the max grows, then turn the scores into weights exp(s - max) and add their sum.
NANO_INLINE void softmaxStep(const RowView& r, int j0, int j1, float scale, int hd) {
  float* s = r.scores;
  float &max = r.stats[0], &sum = r.stats[1];
  for (int j = j0; j < j1; ++j) s[j] *= scale;
  const float pageMax = maxOf(s + j0, j1 - j0);
  if (pageMax > max) {
    const float corr = expFast(max - pageMax);  // 0 when max is still -inf
    for (int d = 0; d < hd; ++d) r.acc[d] *= corr;
    sum *= corr;
    max = pageMax;
  }
  for (int j = j0; j < j1; ++j) s[j] = expFast(s[j] - max);
  sum += sumFixed(s + j0, j1 - j0);
}

// Adds the weighted values of rows[0..n), which share the slot range [j0, j1).
template <class T>
NANO_INLINE void weighPage(const FlashBlock& b, const RowView* rows, int n, int page, int j0, int j1, int hd) {
  const T* vs[kInterleave];
  const float* ws[kInterleave];
  float* as[kInterleave];
  for (int i = 0; i < n; ++i) {
    vs[i] = b.kv->template values<T>(b.layer, page, rows[i].kvHead);
    ws[i] = rows[i].scores;
    as[i] = rows[i].acc;
  }
  int d0 = 0;
#define NANO_WEIGH(H) weighRows<H>(vs, ws, j0, j1, hd, d0, as)
  for (; hd - d0 >= 16; d0 += 16) NANO_BY_COUNT(n, NANO_WEIGH)
#undef NANO_WEIGH
  for (; d0 < hd; ++d0)  // a head_dim that is not a multiple of 16
    for (int i = 0; i < n; ++i) {
      float a = as[i][d0];
      for (int j = j0; j < j1; ++j) a += ws[i][j] * loadKv(vs[i] + size_t(j) * hd + d0);
      as[i][d0] = a;
    }
}

NANO_INLINE void prefetchSpan(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);
}

// Row r of a block: token tokBegin + r / headsPerToken, query head g0 * group + r % headsPerToken.
NANO_INLINE RowView rowView(const FlashBlock& b, const AttentionScratch& sh, int r) {
  const int headsPerToken = (b.g1 - b.g0) * sh.group;
  const int t = b.tokBegin + r / headsPerToken, hh = r % headsPerToken, h = b.g0 * sh.group + hh;
  const int pos = b.positions[t];
  float* acc = b.scratch + size_t(r) * sh.rowFloats;
  const int first = b.window > 0 && pos - b.window + 1 > 0 ? pos - b.window + 1 : 0;
  return {b.qkv + size_t(t) * b.rowWidth + size_t(h) * sh.headDim, acc, acc + sh.headDim,
          acc + sh.rowFloats - 2, b.g0 + hh / sh.group, first, pos};
}

// Rows sel[0..n), which attend to the same keys, over one page: score, softmax step, weigh.
template <class T>
NANO_INLINE void attendPage(const FlashBlock& b, const RowView* sel, int n, int page, int base, float scale, int hd,
                            int ps) {
  const int j0 = sel[0].first > base ? sel[0].first - base : 0;
  const int j1 = sel[0].last - base + 1 < ps ? sel[0].last - base + 1 : ps;
  scorePage<T>(b, sel, n, page, hd, ps);
  for (int i = 0; i < n; ++i) softmaxStep(sel[i], j0, j1, scale, hd);
  weighPage<T>(b, sel, n, page, j0, j1, hd);
}

// The block's walk: page by page (those any row needs), rows kInterleave at a time.
template <class T>
NANO_INLINE void flashBlock(const FlashBlock& b, const AttentionScratch& sh) {
  const int hd = sh.headDim, ps = sh.pageSize;
  const int numRows = (b.tokEnd - b.tokBegin) * (b.g1 - b.g0) * sh.group;
  int first = 1 << 30, last = 0;
  for (int r = 0; r < numRows; ++r) {
    const RowView v = rowView(b, sh, r);
    first = v.first < first ? v.first : first;
    last = v.last > last ? v.last : last;
    std::memset(v.acc, 0, size_t(hd) * sizeof(float));
    v.stats[0] = -__builtin_inff();
    v.stats[1] = 0;
  }
  const float scale = 1.0f / std::sqrt(float(hd));
  const size_t kvSpan = size_t(hd) * ps * sizeof(T);  // bytes of one kv head's K (or V) in a page
  for (int p = first / ps; p <= last / ps; ++p) {
    const int page = b.pages[p], base = p * ps;
    prefetchSpan(b.kv->template values<T>(b.layer, page, b.g0), kvSpan * (b.g1 - b.g0));
    if (p < last / ps) prefetchSpan(b.kv->template keys<T>(b.layer, b.pages[p + 1], b.g0), kvSpan * (b.g1 - b.g0));
    RowView sel[kInterleave];
    int n = 0;
    for (int r = 0; r < numRows; ++r) {
      const RowView v = rowView(b, sh, r);
      if (v.last < base || v.first >= base + ps) continue;  // the page holds none of its keys
      if (n > 0 && (n == kInterleave || v.first != sel[0].first || v.last != sel[0].last)) {
        attendPage<T>(b, sel, n, page, base, scale, hd, ps);
        n = 0;
      }
      sel[n++] = v;
    }
    if (n > 0) attendPage<T>(b, sel, n, page, base, scale, hd, ps);
  }
  for (int r = 0; r < numRows; ++r) {
    const RowView v = rowView(b, sh, r);
    const int t = b.tokBegin + r / ((b.g1 - b.g0) * sh.group);
    const int h = b.g0 * sh.group + r % ((b.g1 - b.g0) * sh.group);
    float* o = b.out + size_t(t) * sh.numHeads * hd + size_t(h) * hd;
    const float inv = 1.0f / v.stats[1];
    for (int d = 0; d < hd; ++d) o[d] = v.acc[d] * inv;
  }
}

}  // namespace
}  // namespace nano
