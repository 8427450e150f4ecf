// The tile driver every packed-matrix GEMM kernel shares: walks column blocks, K slices
// (so a block's weights stay in L1) and row tiles, and calls the kernel's R x P tile.
// Between slices the partial sums go through y unchanged (a float store and reload is
// exact), so each y element stays one chain over k in order, for any M, tile or split.
//
// Include this INSIDE a kernel's `#pragma GCC target` region, after the system headers:
// everything here sits in an unnamed namespace, so each kernel file compiles its own
// copy for its own instruction set (no inline function is shared across targets).
#pragma once
#include <utility>

#include "packed_matrix.h"

namespace nano {
namespace {

struct Slice {
  bool isFirst;  // start the chains at zero (else continue from y)
  bool isLast;   // add the bias and leave the final value in y
};

// Tile<R, P>::run(x, ldx, w, units, bias, y, ldy, cols, slice): R rows x P panels of a
// block over `units` k units (one k, or one k pair for the bf16 pair layout).
template <template <int, int> class Tile, int MaxRows, class X, class W>
struct TileTable {
  using Fn = void (*)(const X*, int, const W*, int, const float*, float*, int, int, Slice);
  Fn fn[MaxRows][kBlockPanels] = {};
  TileTable() { fillRows(std::make_integer_sequence<int, MaxRows>()); }
  template <int... R>
  void fillRows(std::integer_sequence<int, R...>) {
    (fillPanels<R + 1>(std::make_integer_sequence<int, kBlockPanels>()), ...);
  }
  template <int R, int... P>
  void fillPanels(std::integer_sequence<int, P...>) {
    ((fn[R - 1][P] = &Tile<R, P + 1>::run), ...);
  }
};

// The operands in k units: x (m, ldx) holds `units` units per row; a block's weights hold
// unitWidth W elements per column per unit (1, or 2 for bf16 pairs).
template <class X, class W>
struct TileOperands {
  const X* x;
  int ldx, m;
  const W* data;  // the packed matrix's storage (f32, bf16 or bf16 pairs)
  int units, unitWidth, sliceUnits;
  const float* bias;  // (n) or null
  float* y;           // (m, ldy)
  int ldy;
};

// Rows are walked in groups of kGroupTiles tiles: a group's x rows and y partial sums stay
// in L1/L2 across the K slices of a block, and the weights are re-read once per group.
constexpr int kGroupTiles = 8;

template <template <int, int> class Tile, int MaxRows, class X, class W>
void walkBlocks(const PackedMatrix& w, int blockBegin, int blockEnd, const TileOperands<X, W>& o) {
  static const TileTable<Tile, MaxRows, X, W> table;
  const int groupRows = kGroupTiles * MaxRows;
  for (int g = 0; g < o.m; g += groupRows) {
    const int gEnd = o.m - g < groupRows ? o.m : g + groupRows;
    for (int b = blockBegin; b < blockEnd; ++b) {
      const int numPanels = w.blockPanels(b);
      const int col = b * kBlockPanels * kPanelWidth;
      const int cols = w.n - col < numPanels * kPanelWidth ? w.n - col : numPanels * kPanelWidth;
      const W* block = o.data + w.blockOffset(b);
      const size_t unitStride = size_t(numPanels) * kPanelWidth * o.unitWidth;  // W elements per unit
      for (int k0 = 0; k0 < o.units; k0 += o.sliceUnits) {
        const int k = o.units - k0 < o.sliceUnits ? o.units - k0 : o.sliceUnits;
        const Slice slice{k0 == 0, k0 + k == o.units};
        // The group's rows in tiles as even as can be (32 rows: 6, 6, 5, 5, 5, 5, not 6 x 5 + 2).
        const int n = gEnd - g, numTiles = (n + MaxRows - 1) / MaxRows;
        for (int t = 0, r = g; t < numTiles; ++t) {
          const int rows = n / numTiles + (t < n % numTiles ? 1 : 0);
          table.fn[rows - 1][numPanels - 1](o.x + size_t(r) * o.ldx + k0, o.ldx, block + k0 * unitStride, k,
                                            o.bias ? o.bias + col : nullptr, o.y + size_t(r) * o.ldy + col, o.ldy,
                                            cols, slice);
          r += rows;
        }
      }
    }
  }
}

}  // namespace
}  // namespace nano
