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
#include "attention_kv.h"     // how each element type is read
#include "attention_micro.h"  // the register-tile micro-kernels

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
          score1(rows[i].q, keysAt<T>(*b.kv, b.layer, slots.singlePage[s], rows[i].kvHead, slots.singleSlot[s]), hd, ps);
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
  const int nb = b.kv->numScaleBlocks();
  for (; d0 < hd; ++d0)  // a head_dim that is not a multiple of kLanes
    for (int i = 0; i < n; ++i) {
      float a = rows[i].acc[d0];
      for (int s = 0; s < spans.numSpans; ++s) {
        const KvRef<T> vs = valuesAt<T>(*b.kv, b.layer, spans.page[s], rows[i].kvHead, spans.slot[s], hd);
        const float* ws = rows[i].scores + spans.at[s];
        for (int j = 0; j < spans.count[s]; ++j) a += ws[j] * loadValue(vs, j, hd, nb, d0);
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

// Row r of a block: query head g0 * group + r / numTokens, token tokBegin + r % numTokens
// (head-major, so rows side by side share their kv head's K and V loads). Its scratch:
// acc (head_dim) | scores (kTileKeys) | stats (2) | folded segments: acc (head_dim), stats (2).
NANO_INLINE RowView rowView(const FlashBlock& b, const AttentionScratch& sh, int r) {
  const int numTokens = b.tokEnd - b.tokBegin;
  const int hh = r / numTokens, t = b.tokBegin + r % numTokens, h = b.g0 * sh.group + hh;
  const int pos = b.positions[t];
  float* acc = b.scratch + size_t(r) * sh.rowFloats;
  const int first = b.la.window > 0 && pos - b.la.window + 1 > 0 ? pos - b.la.window + 1 : 0;
  return {b.qkv + size_t(t) * b.rowWidth + size_t(h) * sh.headDim, acc, acc + sh.headDim,
          acc + sh.headDim + kTileKeys, b.g0 + hh / sh.group, first, pos};
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
NANO_INLINE void prefetchTile(const FlashBlock& b, int from, int to, int hd, int ps) {
  for (int p = from / ps; p * ps < to; ++p)
    for (int g = b.g0; g < b.g1; ++g) prefetchPage<T>(*b.kv, b.layer, b.pages[p], g, hd, ps);
}

// out row = acc / sum.
NANO_INLINE void writeRow(float* o, const float* acc, float sum, int hd) {
  const float inv = 1.0f / sum;
  for (int d = 0; d < hd; ++d) o[d] = acc[d] * inv;
}

// The block's walk over segments [seg0, seg1) of its rows' keys: in each, tile by tile of
// kTileKeys key positions (those any row needs), rows up to kRows at a time (of one kv head,
// unless each kv head has a single row here), each row's online softmax started afresh at
// the segment. Tiles and segments sit at fixed positions, so a row's steps depend on nothing
// but its own range of keys. At a segment's end a row of one segment writes its output; a
// row of several folds the segment into what it holds (or leaves it in b.partials).
template <class T>
NANO_INLINE void flashBlock(const FlashBlock& b, const AttentionScratch& sh) {
  markBuild(CloneFamily::Attention, Build(NANO_FLASH_ISA));  // 0, 1, 2: Portable, Avx2, Avx512
  const int hd = sh.headDim, ps = sh.pageSize;
  const int numTokens = b.tokEnd - b.tokBegin, numRows = numTokens * (b.g1 - b.g0) * sh.group;
  const bool isOneRowPerKvHead = numTokens * sh.group == 1;
  int first = 1 << 30, last = 0;
  for (int r = 0; r < numRows; ++r) {
    const RowView v = rowView(b, sh, r);
    first = v.first < first ? v.first : first;
    last = v.last > last ? v.last : last;
  }
  const bool isPrefetching = std::is_same_v<T, Q8> || sh.isPrefetchingWideKv;
  const int s0 = b.seg0 > first / kSegmentKeys ? b.seg0 : first / kSegmentKeys;
  const int s1 = b.seg1 < last / kSegmentKeys + 1 ? b.seg1 : last / kSegmentKeys + 1;
  for (int seg = s0; seg < s1; ++seg) {
    const int segBegin = seg * kSegmentKeys, segEnd = segBegin + kSegmentKeys;
    int lo = 1 << 30, hi = -1;  // the keys the rows need in this segment
    for (int r = 0; r < numRows; ++r) {
      const RowView v = rowView(b, sh, r);
      if (v.last < segBegin || v.first >= segEnd) continue;
      std::memset(v.acc, 0, size_t(hd + kTileKeys) * sizeof(float));  // acc and the tile's scores
      v.stats[0] = -__builtin_inff();
      v.stats[1] = 0;
      const int rowLo = v.first > segBegin ? v.first : segBegin, rowHi = v.last < segEnd - 1 ? v.last : segEnd - 1;
      lo = rowLo < lo ? rowLo : lo;
      hi = rowHi > hi ? rowHi : hi;
    }
    if (hi < 0) continue;
    const int end = hi + 1;
    const int firstTileEnd = (lo / kTileKeys + 1) * kTileKeys;
    if (isPrefetching) prefetchTile<T>(b, lo, firstTileEnd < end ? firstTileEnd : end, hd, ps);
    for (int t = lo / kTileKeys; t <= hi / kTileKeys; ++t) {
      const int base = t * kTileKeys;
      if (isPrefetching && base + kTileKeys < end)  // the next tile's K and V
        prefetchTile<T>(b, base + kTileKeys, base + 2 * kTileKeys < end ? base + 2 * kTileKeys : end, hd, ps);
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
      if (v.last < segBegin || v.first >= segEnd) continue;
      const int t = b.tokBegin + r % numTokens, h = b.g0 * sh.group + r / numTokens;
      float* o = b.out + size_t(t) * sh.numHeads * hd + size_t(h) * hd;
      const int rowSeg0 = v.first / kSegmentKeys, rowSeg1 = v.last / kSegmentKeys;
      if (rowSeg0 == rowSeg1) {
        writeRow(o, v.acc, v.stats[1], hd);
      } else if (b.partials) {
        float* p = b.partials + ((size_t(t - b.partialTok0) * sh.numHeads + h) * b.partialSegs + (seg - b.partialSeg0)) * (hd + 2);
        std::memcpy(p, v.acc, size_t(hd) * sizeof(float));
        p[hd] = v.stats[0], p[hd + 1] = v.stats[1];
      } else {
        float* held = v.stats + 2;  // acc (head_dim), stats (2)
        if (seg == rowSeg0) {
          std::memcpy(held, v.acc, size_t(hd) * sizeof(float));
          held[hd] = v.stats[0], held[hd + 1] = v.stats[1];
        } else {
          foldSegment(held, held + hd, v.acc, v.stats, hd);
        }
        if (seg == rowSeg1) writeRow(o, held, held[hd + 1], hd);
      }
    }
  }
}

// This file's copy of the block kernel for a KV cache of the given element type (taken
// inside the including file's target region, so the copies are instantiated for its ISA).
FlashBlockFn flashBlockFor(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::F16: return flashBlock<_Float16>;
    case KvDtype::Bf16: return flashBlock<Bf16>;
    case KvDtype::Q8_0: return flashBlock<Q8>;
    case KvDtype::F32: break;
  }
  return flashBlock<float>;
}

}  // namespace
}  // namespace nano
