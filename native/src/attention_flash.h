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

// The register tile of the micro-kernels: up to kRows rows (token, head) at a time, against
// kKeyVecs key vectors (kLanes slots each) for q k^T, or kDimVecs vectors of head_dim for
// p v, so every loaded K or V vector feeds several independent chains and every row has
// several chains in flight (a lone decode row too). AVX-512: 4 x 4 of 32 zmm; AVX2 (a Vec
// is two ymm of 16) and the baseline: 2 x 2.
constexpr int kRows = NANO_FLASH_ISA == 2 ? 4 : 2;
constexpr int kKeyVecs = NANO_FLASH_ISA == 2 ? 4 : 2;
constexpr int kDimVecs = NANO_FLASH_ISA == 2 ? 4 : 2;
static_assert(kKeyVecs * kLanes <= kTileKeys, "a tile holds the key vectors of one call");

// A row: one (token, query head). Keys it attends to: positions [first, last].
struct RowView {
  const float* q;
  float* acc;     // (head_dim) running sum of weighted values
  float* scores;  // (kTileKeys) this tile's scores, then weights
  float* stats;   // [running max, running sum]
  int kvHead, first, last;
};

// sc[h][v][0..kLanes) = q_h . k over H rows and V key vectors of transposed key blocks
// (head_dim, ps): per lane, over d in order, a multiply then an add. When every row reads
// the same keys (`shared`: the rows of one kv head) each key vector is loaded (and widened)
// once for all of them; the arithmetic is the same either way.
template <int H, int V, bool shared, class T>
NANO_INLINE void scoreBlock(const float* const* q, const T* (*k)[kKeyVecs], int hd, int ps,
                            float* (*sc)[kKeyVecs]) {
  Vec acc[H][V];
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v) acc[h][v] = splat(0.0f);
  for (int d = 0; d < hd; ++d) {
    const size_t off = size_t(d) * ps;
    if constexpr (shared) {
      Vec key[V];
      for (int v = 0; v < V; ++v) key[v] = loadV(k[0][v] + off);
      for (int h = 0; h < H; ++h) {
        const float qd = q[h][d];
        for (int v = 0; v < V; ++v) acc[h][v] = fmadd(acc[h][v], qd, key[v]);
      }
    } else {
      for (int h = 0; h < H; ++h) {
        const float qd = q[h][d];
        for (int v = 0; v < V; ++v) acc[h][v] = fmadd(acc[h][v], qd, loadV(k[h][v] + off));
      }
    }
  }
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v) storeV(sc[h][v], acc[h][v]);
}

template <class T>
NANO_INLINE float score1(const float* q, const T* keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * loadKv(keys + size_t(d) * ps);
  return acc;
}

// The slots a tile's rows weigh values for, page by page: `count` slots of page `page` from
// `slot`, whose weights sit at offset `at` of the rows' tile buffers.
struct TileSpans {
  int numSpans = 0;
  int page[kTileKeys], slot[kTileKeys], count[kTileKeys], at[kTileKeys];
};

// acc_h[d0 + kLanes x ..][0..kLanes) += w_h[j] v_h[j][d0 + kLanes x ..] over H rows, X vectors
// of head_dim and the tile's slots j in order, span by span (a multiply then an add per lane;
// the sums stay in registers across the tile).
template <int H, int X, bool shared, class T>
NANO_INLINE void weighBlock(const KvCache& kv, int layer, const int* kvHead, const TileSpans& spans, float* const* w,
                            int hd, int d0, float* const* acc) {
  Vec a[H][X];
  for (int h = 0; h < H; ++h)
    for (int x = 0; x < X; ++x) a[h][x] = loadV(acc[h] + d0 + x * kLanes);
  for (int s = 0; s < spans.numSpans; ++s) {
    const T* v[H];
    const float* ws[H];
    for (int h = 0; h < H; ++h) {
      v[h] = kv.template values<T>(layer, spans.page[s], kvHead[h]) + size_t(spans.slot[s]) * hd + d0;
      ws[h] = w[h] + spans.at[s];
    }
    for (int j = 0; j < spans.count[s]; ++j) {
      const size_t off = size_t(j) * hd;
      if constexpr (shared) {
        Vec val[X];
        for (int x = 0; x < X; ++x) val[x] = loadV(v[0] + off + x * kLanes);
        for (int h = 0; h < H; ++h) {
          const float wj = ws[h][j];
          for (int x = 0; x < X; ++x) a[h][x] = fmadd(a[h][x], wj, val[x]);
        }
      } else {
        for (int h = 0; h < H; ++h) {
          const float wj = ws[h][j];
          for (int x = 0; x < X; ++x) a[h][x] = fmadd(a[h][x], wj, loadV(v[h] + off + x * kLanes));
        }
      }
    }
  }
  for (int h = 0; h < H; ++h)
    for (int x = 0; x < X; ++x) storeV(acc[h] + d0 + x * kLanes, a[h][x]);
}

// Calls f.run<H, V>() for the runtime h in 1..MaxH and v in 1..MaxV: one instantiation per
// pair (templates, not lambdas: a lambda would not inherit the file's target and could run
// as the baseline copy).
template <int MaxV, int H, class F>
inline void runWithV(const F& f, int v) {
  if constexpr (MaxV > 1) {
    if (v < MaxV) return runWithV<MaxV - 1, H>(f, v);
  }
  f.template run<H, MaxV>();
}
template <int MaxH, int MaxV, class F>
inline void runWith(const F& f, int h, int v) {
  if constexpr (MaxH > 1) {
    if (h < MaxH) return runWith<MaxH - 1, MaxV>(f, h, v);
  }
  runWithV<MaxV, MaxH>(f, v);
}

// Rows rows[0..n) of one kv head or not: the same loads for all, or one stream per row.
NANO_INLINE bool shareKvHead(const RowView* rows, int n) {
  for (int i = 1; i < n; ++i)
    if (rows[i].kvHead != rows[0].kvHead) return false;
  return true;
}

// The key slots a tile's scores are computed for: whole vectors of kLanes slots (page, slot,
// offset in the tile), and slots of pages narrower than a vector one by one.
struct TileSlots {
  int numVecs = 0, numSingles = 0;
  int vecPage[kTileKeys / kLanes], vecSlot[kTileKeys / kLanes], vecAt[kTileKeys / kLanes];
  int singlePage[kTileKeys], singleSlot[kTileKeys], singleAt[kTileKeys];
  void addSpan(int page, int slot, int count, int at) {
    int j = 0;
    for (; count - j >= kLanes; j += kLanes) vecPage[numVecs] = page, vecSlot[numVecs] = slot + j, vecAt[numVecs++] = at + j;
    for (; j < count; ++j) singlePage[numSingles] = page, singleSlot[numSingles] = slot + j, singleAt[numSingles++] = at + j;
  }
};

// Scores of rows[0..n) for key vectors [v0, v0 + numV) of the tile.
template <class T>
struct ScoreCall {
  const FlashBlock& b;
  const RowView* rows;
  const TileSlots& slots;
  int v0, hd, ps;
  bool shared;
  template <int H, int V>
  NANO_INLINE void run() const {
    const float* q[H];
    const T* k[H][kKeyVecs];
    float* sc[H][kKeyVecs];
    for (int h = 0; h < H; ++h) {
      q[h] = rows[h].q;
      for (int v = 0; v < V; ++v) {
        k[h][v] = b.kv->template keys<T>(b.layer, slots.vecPage[v0 + v], rows[h].kvHead) + slots.vecSlot[v0 + v];
        sc[h][v] = rows[h].scores + slots.vecAt[v0 + v];
      }
    }
    shared ? scoreBlock<H, V, true, T>(q, k, hd, ps, sc) : scoreBlock<H, V, false, T>(q, k, hd, ps, sc);
  }
};

// Weighted values of rows[0..n) for the tile's spans, head_dim vectors [d0, d0 + X kLanes).
template <class T>
struct WeighCall {
  const FlashBlock& b;
  const RowView* rows;
  const TileSpans& spans;
  int hd, d0;
  bool shared;
  template <int H, int X>
  NANO_INLINE void run() const {
    int kvHead[H];
    float* w[H];
    float* acc[H];
    for (int h = 0; h < H; ++h) kvHead[h] = rows[h].kvHead, w[h] = rows[h].scores, acc[h] = rows[h].acc;
    shared ? weighBlock<H, X, true, T>(*b.kv, b.layer, kvHead, spans, w, hd, d0, acc)
           : weighBlock<H, X, false, T>(*b.kv, b.layer, kvHead, spans, w, hd, d0, acc);
  }
};

// Scores of rows[0..n) against the tile's slots (every slot of the pages the rows' range
// touches; masking comes after).
template <class T>
NANO_INLINE void scoreTile(const FlashBlock& b, const RowView* rows, int n, const TileSlots& slots, int hd, int ps) {
  const bool shared = shareKvHead(rows, n);
  for (int v0 = 0; v0 < slots.numVecs; v0 += kKeyVecs) {
    const int numV = slots.numVecs - v0 < kKeyVecs ? slots.numVecs - v0 : kKeyVecs;
    runWith<kRows, kKeyVecs>(ScoreCall<T>{b, rows, slots, v0, hd, ps, shared}, n, numV);
  }
  for (int s = 0; s < slots.numSingles; ++s)
    for (int i = 0; i < n; ++i)
      rows[i].scores[slots.singleAt[s]] =
          score1(rows[i].q, b.kv->template keys<T>(b.layer, slots.singlePage[s], rows[i].kvHead) + slots.singleSlot[s], hd, ps);
}

// Adds the weighted values of rows[0..n) for the tile's spans, whose weights sit in the tile buffers.
template <class T>
NANO_INLINE void weighTile(const FlashBlock& b, const RowView* rows, int n, const TileSpans& spans, int hd) {
  const bool shared = shareKvHead(rows, n);
  int d0 = 0;
  for (; hd - d0 >= kLanes;) {
    const int numX = (hd - d0) / kLanes < kDimVecs ? (hd - d0) / kLanes : kDimVecs;
    runWith<kRows, kDimVecs>(WeighCall<T>{b, rows, spans, hd, d0, shared}, n, numX);
    d0 += numX * kLanes;
  }
  for (; d0 < hd; ++d0)  // a head_dim that is not a multiple of kLanes
    for (int i = 0; i < n; ++i) {
      float a = rows[i].acc[d0];
      for (int s = 0; s < spans.numSpans; ++s) {
        const T* vs = b.kv->template values<T>(b.layer, spans.page[s], rows[i].kvHead) + size_t(spans.slot[s]) * hd;
        const float* ws = rows[i].scores + spans.at[s];
        for (int j = 0; j < spans.count[s]; ++j) a += ws[j] * loadKv(vs + size_t(j) * hd + d0);
      }
      rows[i].acc[d0] = a;
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
  if (la.softcap > 0) {  // Gemma 2: cap * tanh(s / cap), on the row's slots only
    for (int c = c0; c < c1; c += kLanes) storeV(r.scores + c, mulV(loadV(r.scores + c), splat(la.scale)));
    for (int j = j0; j < j1; ++j) r.scores[j] = std::tanh(r.scores[j] / la.softcap) * la.softcap;
    for (int c = c0; c < c1; c += kLanes) tileMax = vmax(loadV(r.scores + c), tileMax);
  } else {  // scale and max in one pass
    for (int c = c0; c < c1; c += kLanes) {
      const Vec x = mulV(loadV(r.scores + c), splat(la.scale));
      storeV(r.scores + c, x);
      tileMax = vmax(x, tileMax);
    }
  }
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
  TileSlots slots;
  for (int pos = base + j0; pos < base + j1;) {
    const PageSpan s = pageSpan(b, base, pos, j1, ps, true);
    slots.addSpan(s.page, s.slot, s.count, s.at);
    pos = s.next;
  }
  scoreTile<T>(b, sel, n, slots, hd, ps);
  for (int i = 0; i < n; ++i) softmaxStep(sel[i], j0, j1, b.la, hd);
  TileSpans spans;
  for (int pos = base + j0; pos < base + j1;) {
    const PageSpan s = pageSpan(b, base, pos, j1, ps, false);
    spans.page[spans.numSpans] = s.page, spans.slot[spans.numSpans] = s.slot, spans.count[spans.numSpans] = s.count;
    spans.at[spans.numSpans++] = s.at;
    pos = s.next;
  }
  weighTile<T>(b, sel, n, spans, hd);
}

// Prefetches the K and V of kv heads [g0, g1) for the pages of key positions [from, to).
template <class T>
NANO_INLINE void prefetchTile(const FlashBlock& b, int from, int to, int ps, size_t kvSpan) {
  for (int p = from / ps; p * ps < to; ++p)
    for (int g = b.g0; g < b.g1; ++g) {
      prefetchSpan(b.kv->template keys<T>(b.layer, b.pages[p], g), kvSpan);
      prefetchSpan(b.kv->template values<T>(b.layer, b.pages[p], g), kvSpan);
    }
}

// The block's walk: tile by tile of kTileKeys key positions (those any row needs), rows up
// to kRows at a time (of one kv head, unless each kv head has a single row here). Tiles sit
// at fixed positions, so a row's steps depend on nothing but its own range of keys.
template <class T>
NANO_INLINE void flashBlock(const FlashBlock& b, const AttentionScratch& sh) {
  const int hd = sh.headDim, ps = sh.pageSize;
  const int numTokens = b.tokEnd - b.tokBegin, numRows = numTokens * (b.g1 - b.g0) * sh.group;
  const bool isOneRowPerKvHead = numTokens * sh.group == 1;
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
  const int end = last + 1;
  prefetchTile<T>(b, first, (first / kTileKeys + 1) * kTileKeys < end ? (first / kTileKeys + 1) * kTileKeys : end, ps, kvSpan);
  for (int t = first / kTileKeys; t <= last / kTileKeys; ++t) {
    const int base = t * kTileKeys;
    if (base + kTileKeys < end)  // the next tile's K and V
      prefetchTile<T>(b, base + kTileKeys, base + 2 * kTileKeys < end ? base + 2 * kTileKeys : end, ps, kvSpan);
    RowView sel[kRows];
    int n = 0, j0 = 0, j1 = 0;
    for (int r = 0; r < numRows; ++r) {
      const RowView v = rowView(b, sh, r);
      if (v.last < base || v.first >= base + kTileKeys) continue;  // the tile holds none of its keys
      const int rj0 = v.first > base ? v.first - base : 0;
      const int rj1 = v.last - base + 1 < kTileKeys ? v.last - base + 1 : kTileKeys;
      const bool isNewHead = n > 0 && !isOneRowPerKvHead && v.kvHead != sel[0].kvHead;
      if (n > 0 && (n == kRows || rj0 != j0 || rj1 != j1 || isNewHead)) {
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
