// The body of the flash attention kernel, one block of tokens x heads. Included by the
// three kernel files (attention_avx512.cpp, attention_avx2.cpp, attention_portable.cpp),
// each inside its own `#pragma GCC target` region and after defining NANO_FLASH_ISA:
// everything here sits in an unnamed namespace, so each file compiles its own copy for
// its own instruction set, on the 16-lane vectors of attention_vec.h: the same operations
// per lane in every copy (bitwise the same results on every path, as the quantized-weight
// tests rely on), never contracted, so a row's result depends on nothing but its inputs.
#pragma once
#include "attention_block.h"

namespace nano {
namespace {

#include "attention_vec.h"

// Rows whose chains run side by side: enough for the FMA latency, few enough for the registers.
constexpr int kInterleave = NANO_FLASH_ISA == 2 ? 8 : 4;

// A row: one (token, query head). Keys it attends to: positions [first, last].
struct RowView {
  const float* q;
  float* acc;     // (head_dim) running sum of weighted values
  float* scores;  // (kTileKeys) this tile's scores, then weights
  float* stats;   // [running max, running sum]
  int kvHead, first, last;
};

// For H rows: sc_h[0..kLanes) = q_h . k for kLanes slots of transposed key blocks (head_dim, ps).
// When every row reads the same keys (`shared`: the rows of one kv head), each key vector is
// loaded (and widened) once for all of them; the arithmetic is the same either way.
template <int H, bool shared, class T>
NANO_INLINE void scoreRows(const float* const* q, const T* const* keys, int hd, int ps, float* const* sc) {
  Vec acc[H];
  for (int h = 0; h < H; ++h) acc[h] = splat(0.0f);
  for (int d = 0; d < hd; ++d) {
    if constexpr (shared) {
      const Vec k = loadV(keys[0] + size_t(d) * ps);
      for (int h = 0; h < H; ++h) acc[h] = fmadd(acc[h], q[h][d], k);
    } else {
      for (int h = 0; h < H; ++h) acc[h] = fmadd(acc[h], q[h][d], loadV(keys[h] + size_t(d) * ps));
    }
  }
  for (int h = 0; h < H; ++h) storeV(sc[h], acc[h]);
}

template <class T>
NANO_INLINE float score1(const float* q, const T* keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * loadKv(keys + size_t(d) * ps);
  return acc;
}

// For H rows over `count` slots: acc_h[d0..d0+kLanes) += w_h[j] v_h[j][d0..], j in order.
template <int H, bool shared, class T>
NANO_INLINE void weighRows(const T* const* v, const float* const* w, int count, int hd, int d0, float* const* acc) {
  Vec a[H];
  for (int h = 0; h < H; ++h) a[h] = loadV(acc[h] + d0);
  for (int j = 0; j < count; ++j) {
    if constexpr (shared) {
      const Vec x = loadV(v[0] + size_t(j) * hd + d0);
      for (int h = 0; h < H; ++h) a[h] = fmadd(a[h], w[h][j], x);
    } else {
      for (int h = 0; h < H; ++h) a[h] = fmadd(a[h], w[h][j], loadV(v[h] + size_t(j) * hd + d0));
    }
  }
  for (int h = 0; h < H; ++h) storeV(acc[h] + d0, a[h]);
}

// Calls F<n>(args...) for n = 1..kInterleave (no lambdas: a lambda would not inherit the
// caller's target and could run as the baseline copy).
#define NANO_BY_COUNT(n, call) \
  switch (n) {                 \
    case 8: call(8); break;    \
    case 7: call(7); break;    \
    case 6: call(6); break;    \
    case 5: call(5); break;    \
    case 4: call(4); break;    \
    case 3: call(3); break;    \
    case 2: call(2); break;    \
    default: call(1); break;   \
  }

// Rows sel[0..n) of one kv head or not: the same loads for all, or one stream per row.
NANO_INLINE bool shareKvHead(const RowView* rows, int n) {
  for (int i = 1; i < n; ++i)
    if (rows[i].kvHead != rows[0].kvHead) return false;
  return true;
}

// Scores of rows[0..n) against `count` slots of page `page` from `slot`, into their tile
// buffers from `at` (every slot of the span; masking comes after).
template <class T>
NANO_INLINE void scoreSpan(const FlashBlock& b, const RowView* rows, int n, int page, int slot, int count, int at,
                           int hd, int ps) {
  const float* qs[kInterleave];
  const T* ks[kInterleave];
  float* scs[kInterleave];
  for (int i = 0; i < n; ++i) {
    qs[i] = rows[i].q;
    ks[i] = b.kv->template keys<T>(b.layer, page, rows[i].kvHead) + slot;
    scs[i] = rows[i].scores + at;
  }
  const bool shared = shareKvHead(rows, n);
  int j0 = 0;
  for (; count - j0 >= kLanes; j0 += kLanes) {
    const T* kj[kInterleave];
    float* sj[kInterleave];
    for (int i = 0; i < n; ++i) kj[i] = ks[i] + j0, sj[i] = scs[i] + j0;
#define NANO_SCORE(H) shared ? scoreRows<H, true>(qs, kj, hd, ps, sj) : scoreRows<H, false>(qs, kj, hd, ps, sj)
    NANO_BY_COUNT(n, NANO_SCORE)
#undef NANO_SCORE
  }
  for (; j0 < count; ++j0)
    for (int i = 0; i < n; ++i) scs[i][j0] = score1(qs[i], ks[i] + j0, hd, ps);
}

// Adds the weighted values of rows[0..n) for `count` slots of page `page` from `slot`, whose
// weights sit in the tile buffers from `at`.
template <class T>
NANO_INLINE void weighSpan(const FlashBlock& b, const RowView* rows, int n, int page, int slot, int count, int at,
                           int hd) {
  const T* vs[kInterleave];
  const float* ws[kInterleave];
  float* as[kInterleave];
  for (int i = 0; i < n; ++i) {
    vs[i] = b.kv->template values<T>(b.layer, page, rows[i].kvHead) + size_t(slot) * hd;
    ws[i] = rows[i].scores + at;
    as[i] = rows[i].acc;
  }
  const bool shared = shareKvHead(rows, n);
  int d0 = 0;
#define NANO_WEIGH(H) shared ? weighRows<H, true>(vs, ws, count, hd, d0, as) : weighRows<H, false>(vs, ws, count, hd, d0, as)
  for (; hd - d0 >= kLanes; d0 += kLanes) NANO_BY_COUNT(n, NANO_WEIGH)
#undef NANO_WEIGH
  for (; d0 < hd; ++d0)  // a head_dim that is not a multiple of kLanes
    for (int i = 0; i < n; ++i) {
      float a = as[i][d0];
      for (int j = 0; j < count; ++j) a += ws[i][j] * loadKv(vs[i] + size_t(j) * hd + d0);
      as[i][d0] = a;
    }
}

// Online softmax step of one row over its slots [j0, j1) of a tile, kLanes slots per vector
// (slots outside the range are masked to -inf, weight 0): rescale what the row holds when
// the max grows, then turn the scores into weights exp(s - max) and add their sum.
NANO_INLINE void softmaxStep(const RowView& r, int j0, int j1, const LayerAttention& la, int hd) {
  const float minusInf = -__builtin_inff();
  float &max = r.stats[0], &sum = r.stats[1];
  const int c0 = j0 / kLanes * kLanes, c1 = (j1 + kLanes - 1) / kLanes * kLanes;  // vectors holding the range
  for (int j = c0; j < j0; ++j) r.scores[j] = minusInf;
  for (int j = j1; j < c1; ++j) r.scores[j] = minusInf;
  Vec tileMax = splat(minusInf);
  for (int c = c0; c < c1; c += kLanes) storeV(r.scores + c, mulV(loadV(r.scores + c), splat(la.scale)));
  if (la.softcap > 0)  // Gemma 2: cap * tanh(s / cap), on the row's slots only
    for (int j = j0; j < j1; ++j) r.scores[j] = std::tanh(r.scores[j] / la.softcap) * la.softcap;
  for (int c = c0; c < c1; c += kLanes) tileMax = vmax(loadV(r.scores + c), tileMax);
  const float m = maxLanes(tileMax);
  if (m > max) {
    const float corr = expFast(max - m);  // 0 when max is still -inf
    for (int d = 0; d < hd; ++d) r.acc[d] *= corr;
    sum *= corr;
    max = m;
  }
  Vec total = splat(0.0f);
  for (int c = c0; c < c1; c += kLanes) {
    const Vec w = expV(subV(loadV(r.scores + c), splat(max)));
    storeV(r.scores + c, w);
    total = addV(total, w);
  }
  sum += sumLanes(total);
}

// Into L2 (a tile of every kv head is more than L1 holds).
NANO_INLINE void prefetchSpan(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 2);
}

// Row r of a block: query head g0 * group + r / numTokens, token tokBegin + r % numTokens
// (head-major, so rows side by side share their kv head's K and V loads).
NANO_INLINE RowView rowView(const FlashBlock& b, const AttentionScratch& sh, int r) {
  const int numTokens = b.tokEnd - b.tokBegin;
  const int hh = r / numTokens, t = b.tokBegin + r % numTokens, h = b.g0 * sh.group + hh;
  const int pos = b.positions[t];
  float* acc = b.scratch + size_t(r) * sh.rowFloats;
  const int first = b.la.window > 0 && pos - b.la.window + 1 > 0 ? pos - b.la.window + 1 : 0;
  return {b.qkv + size_t(t) * b.rowWidth + size_t(h) * sh.headDim, acc, acc + sh.headDim,
          acc + sh.rowFloats - 2, b.g0 + hh / sh.group, first, pos};
}

// One page's part of a tile's key positions [base + j0, base + j1): `count` slots of page
// `page` from `slot`, at offset `at` of the tile. `widen`: the whole of the page inside the
// tile (so full pages score as vectors; the slots outside the rows' range are masked after).
struct PageSpan {
  int page, slot, count, at, next;
};
NANO_INLINE PageSpan pageSpan(const FlashBlock& b, int base, int pos, int j1, int ps, bool widen) {
  const int p = pos / ps, pageBegin = p * ps, pageEnd = pageBegin + ps;
  const int begin = !widen ? pos : pageBegin > base ? pageBegin : base;
  const int limit = widen ? base + kTileKeys : base + j1;
  const int end = pageEnd < limit ? pageEnd : limit;
  return {b.pages[p], begin - pageBegin, end - begin, begin - base, end};
}

// Rows sel[0..n), which attend to the same slots [j0, j1) of the tile at `base`: score, softmax step, weigh.
template <class T>
NANO_INLINE void attendTile(const FlashBlock& b, const RowView* sel, int n, int base, int j0, int j1, int hd, int ps) {
  for (int pos = base + j0; pos < base + j1;) {
    const PageSpan s = pageSpan(b, base, pos, j1, ps, true);
    scoreSpan<T>(b, sel, n, s.page, s.slot, s.count, s.at, hd, ps);
    pos = s.next;
  }
  for (int i = 0; i < n; ++i) softmaxStep(sel[i], j0, j1, b.la, hd);
  for (int pos = base + j0; pos < base + j1;) {
    const PageSpan s = pageSpan(b, base, pos, j1, ps, false);
    weighSpan<T>(b, sel, n, s.page, s.slot, s.count, s.at, hd);
    pos = s.next;
  }
}

// The block's walk: tile by tile of kTileKeys key positions (those any row needs), rows
// kInterleave at a time. Tiles sit at fixed positions, so a row's steps depend on nothing
// but its own range of keys.
template <class T>
NANO_INLINE void flashBlock(const FlashBlock& b, const AttentionScratch& sh) {
  const int hd = sh.headDim, ps = sh.pageSize;
  const int numRows = (b.tokEnd - b.tokBegin) * (b.g1 - b.g0) * sh.group;
  int first = 1 << 30, last = 0;
  for (int r = 0; r < numRows; ++r) {
    const RowView v = rowView(b, sh, r);
    first = v.first < first ? v.first : first;
    last = v.last > last ? v.last : last;
    std::memset(v.acc, 0, (sh.rowFloats - 2) * sizeof(float));  // acc and the tile's scores
    v.stats[0] = -__builtin_inff();
    v.stats[1] = 0;
  }
  const size_t kvSpan = size_t(hd) * ps * sizeof(T);  // bytes of one kv head's K (or V) in a page
  for (int t = first / kTileKeys; t <= last / kTileKeys; ++t) {
    const int base = t * kTileKeys, lastPage = last / ps;
    for (int p = base / ps; p <= lastPage && p * ps < base + kTileKeys; ++p)  // this tile's values
      prefetchSpan(b.kv->template values<T>(b.layer, b.pages[p], b.g0), kvSpan * (b.g1 - b.g0));
    for (int p = (base + kTileKeys) / ps; p <= lastPage && p * ps < base + 2 * kTileKeys; ++p)  // the next tile's keys
      prefetchSpan(b.kv->template keys<T>(b.layer, b.pages[p], b.g0), kvSpan * (b.g1 - b.g0));
    RowView sel[kInterleave];
    int n = 0, j0 = 0, j1 = 0;
    for (int r = 0; r < numRows; ++r) {
      const RowView v = rowView(b, sh, r);
      if (v.last < base || v.first >= base + kTileKeys) continue;  // the tile holds none of its keys
      const int rj0 = v.first > base ? v.first - base : 0;
      const int rj1 = v.last - base + 1 < kTileKeys ? v.last - base + 1 : kTileKeys;
      if (n > 0 && (n == kInterleave || rj0 != j0 || rj1 != j1)) {
        attendTile<T>(b, sel, n, base, j0, j1, hd, ps);
        n = 0;
      }
      sel[n++] = v;
      j0 = rj0;
      j1 = rj1;
    }
    if (n > 0) attendTile<T>(b, sel, n, base, j0, j1, hd, ps);
  }
  for (int r = 0; r < numRows; ++r) {
    const RowView v = rowView(b, sh, r);
    const int t = b.tokBegin + r % (b.tokEnd - b.tokBegin);
    const int h = b.g0 * sh.group + r / (b.tokEnd - b.tokBegin);
    float* o = b.out + size_t(t) * sh.numHeads * hd + size_t(h) * hd;
    const float inv = 1.0f / v.stats[1];
    for (int d = 0; d < hd; ++d) o[d] = v.acc[d] * inv;
  }
}

// This file's copy of the block kernel for a KV cache of the given element type (taken
// inside the including file's target region, so the copies are instantiated for its ISA).
FlashBlockFn flashBlockFor(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::F16: return flashBlock<_Float16>;
    case KvDtype::Bf16: return flashBlock<Bf16>;
    case KvDtype::F32: break;
  }
  return flashBlock<float>;
}

}  // namespace
}  // namespace nano
