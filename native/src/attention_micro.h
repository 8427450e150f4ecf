// The register-tile micro-kernels of the flash attention kernel (attention_flash.h): scores
// q k^T and weighted values p v for a few rows against a few vectors at a time, and the
// calls that pick the tile's size at run time. Included by attention_flash.h only, inside
// its unnamed namespace, after attention_vec.h and attention_block.h: each kernel file
// compiles its own copy for its own instruction set.
#pragma once

// The register tile of the micro-kernels: up to kRows rows (token, head) at a time, against
// kKeyVecs key vectors (kLanes slots each) for q k^T, or kDimVecs vectors of head_dim for
// p v, so every loaded K or V vector feeds several independent chains and every row has
// several chains in flight (a lone decode row too). AVX-512: 4 x 4 of 32 zmm; the baseline:
// 2 x 2. AVX2 (a Vec is two ymm of 16): calls of up to 3 rows x 4 vectors, each run as
// register tiles of at most kMaxSums = 6 Vec sums (12 ymm): 1 row x 4 vectors (the causal
// diagonal's lone rows: 8 chains), 2 x 3, 3 x 2. On Zen 5 (attention probe, one thread, f32
// KV) a 512-token prefill's layer ran 15-20 % faster than with 2 x 2 tiles; 3 x 2 alone gave
// 8-13 %, at most 4 sums lost 5 %, 4 x 2 spills. Each sum is the same chain whatever the
// tile, so the tile never changes a bit.
constexpr int kRows = NANO_FLASH_ISA == 2 ? 4 : NANO_FLASH_ISA == 1 ? 3 : 2;
constexpr int kKeyVecs = NANO_FLASH_ISA == 2 ? 4 : NANO_FLASH_ISA == 1 ? 4 : 2;
constexpr int kDimVecs = NANO_FLASH_ISA == 2 ? 4 : NANO_FLASH_ISA == 1 ? 4 : 2;
constexpr int kMaxSums = NANO_FLASH_ISA == 1 ? 6 : kRows * kKeyVecs;
template <int H>
constexpr int kPartVecs = kMaxSums / H < 1 ? 1 : kMaxSums / H;
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
NANO_INLINE void scoreBlock(const float* const* q, KvRef<T> (*k)[kKeyVecs], int hd, int ps,
                            float* (*sc)[kKeyVecs]) {
  Vec acc[H][V];
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v) acc[h][v] = splat(0.0f);
  for (int d = 0; d < hd; ++d) {
    if constexpr (shared) {
      Vec key[V];
      for (int v = 0; v < V; ++v) key[v] = loadKeys(k[0][v], d, ps);
      for (int h = 0; h < H; ++h) {
        const float qd = q[h][d];
        for (int v = 0; v < V; ++v) acc[h][v] = fmadd(acc[h][v], qd, key[v]);
      }
    } else {
      for (int h = 0; h < H; ++h) {
        const float qd = q[h][d];
        for (int v = 0; v < V; ++v) acc[h][v] = fmadd(acc[h][v], qd, loadKeys(k[h][v], d, ps));
      }
    }
  }
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v) storeV(sc[h][v], acc[h][v]);
}

template <class K>
NANO_INLINE float score1(const float* q, K keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * loadKey(keys, d, ps);
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
  const int nb = kv.numScaleBlocks();
  for (int s = 0; s < spans.numSpans; ++s) {
    KvRef<T> v[H];
    const float* ws[H];
    for (int h = 0; h < H; ++h) {
      v[h] = valuesAt<T>(kv, layer, spans.page[s], kvHead[h], spans.slot[s], hd);
      ws[h] = w[h] + spans.at[s];
    }
    for (int j = 0; j < spans.count[s]; ++j) {
      if constexpr (shared) {
        Vec val[X];
        for (int x = 0; x < X; ++x) val[x] = loadValues(v[0], j, hd, nb, d0 + x * kLanes);
        for (int h = 0; h < H; ++h) {
          const float wj = ws[h][j];
          for (int x = 0; x < X; ++x) a[h][x] = fmadd(a[h][x], wj, val[x]);
        }
      } else {
        for (int h = 0; h < H; ++h) {
          const float wj = ws[h][j];
          for (int x = 0; x < X; ++x) a[h][x] = fmadd(a[h][x], wj, loadValues(v[h], j, hd, nb, d0 + x * kLanes));
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
  NANO_INLINE void run() const { part<H, V, 0>(); }
  // Vectors [At, At + n) of the call's V as one register tile, then the rest.
  template <int H, int V, int At>
  NANO_INLINE void part() const {
    if constexpr (At < V) {
      constexpr int n = V - At < kPartVecs<H> ? V - At : kPartVecs<H>;
      const float* q[H];
      KvRef<T> k[H][kKeyVecs];
      float* sc[H][kKeyVecs];
      for (int h = 0; h < H; ++h) {
        q[h] = rows[h].q;
        for (int v = 0; v < n; ++v) {
          const int at = v0 + At + v;
          k[h][v] = keysAt<T>(*b.kv, b.layer, slots.vecPage[at], rows[h].kvHead, slots.vecSlot[at]);
          sc[h][v] = rows[h].scores + slots.vecAt[at];
        }
      }
      shared ? scoreBlock<H, n, true, T>(q, k, hd, ps, sc) : scoreBlock<H, n, false, T>(q, k, hd, ps, sc);
      part<H, V, At + n>();
    }
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
  NANO_INLINE void run() const { part<H, X, 0>(); }
  // head_dim vectors [At, At + n) of the call's X as one register tile, then the rest.
  template <int H, int X, int At>
  NANO_INLINE void part() const {
    if constexpr (At < X) {
      constexpr int n = X - At < kPartVecs<H> ? X - At : kPartVecs<H>;
      int kvHead[H];
      float* w[H];
      float* acc[H];
      for (int h = 0; h < H; ++h) kvHead[h] = rows[h].kvHead, w[h] = rows[h].scores, acc[h] = rows[h].acc;
      const int d = d0 + At * kLanes;
      shared ? weighBlock<H, n, true, T>(*b.kv, b.layer, kvHead, spans, w, hd, d, acc)
             : weighBlock<H, n, false, T>(*b.kv, b.layer, kvHead, spans, w, hd, d, acc);
      part<H, X, At + n>();
    }
  }
};
