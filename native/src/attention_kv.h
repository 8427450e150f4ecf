// How the tiled attention reads one kv head's K and V from the pool, per element type: a
// reference to a page's keys from a slot on, or to a slot's values, and the loads that widen
// them to f32: f16 / bf16 exactly; q8_0 as code x scale (the code converted exactly, then one
// IEEE multiply per lane, in a vector lane or a scalar alike), so every path and every tile
// shape reads the same f32 values and the sums over them stay those of the f32 kernel.
// Included by attention_flash.h only, inside its unnamed namespace, after attention_vec.h.
#pragma once

template <class T>
struct KvRefOf {
  using type = const T*;
};
template <>
struct KvRefOf<Q8> {
  using type = Q8ConstRef;
};
template <class T>
using KvRef = typename KvRefOf<T>::type;

// Keys of kv head g in page `page` from slot `slot` on: (head_dim, ps).
template <class T>
NANO_INLINE KvRef<T> keysAt(const KvCache& kv, int layer, int page, int g, int slot) {
  if constexpr (std::is_same_v<T, Q8>) {
    const Q8ConstRef r = kv.keysQ8(layer, page, g);
    return {r.q + slot, r.scale + slot};
  } else {
    return kv.template keys<T>(layer, page, g) + slot;
  }
}

// Values of kv head g in page `page` from slot `slot` on: (slot, head_dim).
template <class T>
NANO_INLINE KvRef<T> valuesAt(const KvCache& kv, int layer, int page, int g, int slot, int hd) {
  if constexpr (std::is_same_v<T, Q8>) {
    const Q8ConstRef r = kv.valuesQ8(layer, page, g);
    return {r.q + size_t(slot) * hd, r.scale + size_t(slot) * kv.numScaleBlocks()};
  } else {
    return kv.template values<T>(layer, page, g) + size_t(slot) * hd;
  }
}

// Into L2 (a tile of every kv head is more than L1 holds).
NANO_INLINE void prefetchSpan(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 2);
}

NANO_INLINE size_t scaleBlock(int d) { return unsigned(d) / kQ8Block; }

// Slots [0, kLanes) of dim d of the keys, and one slot's.
template <class T>
NANO_INLINE Vec loadKeys(const T* k, int d, int ps) { return loadV(k + size_t(d) * ps); }
NANO_INLINE Vec loadKeys(Q8ConstRef k, int d, int ps) {
  return mulV(loadCodes(k.q + size_t(d) * ps), loadV(k.scale + scaleBlock(d) * ps));
}
template <class T>
NANO_INLINE float loadKey(const T* k, int d, int ps) { return loadKv(k + size_t(d) * ps); }
NANO_INLINE float loadKey(Q8ConstRef k, int d, int ps) { return float(k.q[size_t(d) * ps]) * k.scale[scaleBlock(d) * ps]; }

// Dims [d, d + kLanes) of slot j of the values (nb: scales per head_dim), and one dim's. A
// q8_0 vector lies inside one block (d a multiple of kLanes, head_dim of 16).
template <class T>
NANO_INLINE Vec loadValues(const T* v, int j, int hd, int nb, int d) { return loadV(v + size_t(j) * hd + d); }
NANO_INLINE Vec loadValues(Q8ConstRef v, int j, int hd, int nb, int d) {
  return mulV(loadCodes(v.q + size_t(j) * hd + d), splat(v.scale[size_t(j) * nb + scaleBlock(d)]));
}
template <class T>
NANO_INLINE float loadValue(const T* v, int j, int hd, int nb, int d) { return loadKv(v + size_t(j) * hd + d); }
NANO_INLINE float loadValue(Q8ConstRef v, int j, int hd, int nb, int d) {
  return float(v.q[size_t(j) * hd + d]) * v.scale[size_t(j) * nb + scaleBlock(d)];
}

// Into L2: the K and V of kv head g in one page (q8_0: the codes and the scales).
template <class T>
NANO_INLINE void prefetchPage(const KvCache& kv, int layer, int page, int g, int hd, int ps) {
  if constexpr (std::is_same_v<T, Q8>) {
    const Q8ConstRef k = kv.keysQ8(layer, page, g), v = kv.valuesQ8(layer, page, g);
    const size_t codes = size_t(hd) * ps, scales = size_t(kv.numScaleBlocks()) * ps * sizeof(float);
    prefetchSpan(k.q, codes), prefetchSpan(k.scale, scales);
    prefetchSpan(v.q, codes), prefetchSpan(v.scale, scales);
  } else {
    const size_t bytes = size_t(hd) * ps * sizeof(T);
    prefetchSpan(kv.template keys<T>(layer, page, g), bytes);
    prefetchSpan(kv.template values<T>(layer, page, g), bytes);
  }
}
