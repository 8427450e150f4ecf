// The tile driver every packed-matrix GEMM kernel shares: walks column blocks, K slices
// and, inside a block, strips of columns (the kernel's register tile width, so a strip's
// weights of one slice stay in L1 while every row tile reads them), and calls the
// kernel's R x P tile. Between slices the partial sums go through y unchanged (a float
// store and reload is exact), so each y element stays one chain over k in order, for any
// M, tile, strip, slice or split.
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
  // The weights the next strip (or slice, or block) starts from, at the same k unit offset
  // as this tile's first: a tile may prefetch `next + u * stride` while it reads unit u.
  // Null after the last.
  const void* next;
  // This tile's place among the strip's row tiles (tile t of numTiles): a kernel may share the
  // next strip's prefetch among them.
  int tile, numTiles;
};

// Tile<R, P>::run(x, ldx, w, stride, units, bias, y, ldy, cols, slice): R rows x P panels
// over `units` k units (one k, or one k pair for the bf16 pair layout); a unit's weights
// are `stride` W elements apart.
template <template <int, int> class Tile, int MaxRows, class X, class W>
struct TileTable {
  using Fn = void (*)(const X*, int, const W*, int, int, const float*, float*, int, int, Slice);
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
  int units, unitWidth;
  int sliceBytes;          // a strip's weights per K slice
  const int* stripPanels;  // (rows - 1) panels per strip for a tile of that many rows; null: whole blocks
  const float* bias;       // (n) or null
  float* y;                // (m, ldy)
  int ldy;
};

// Rows are walked in groups of kGroupTiles tiles: a group's x rows and y partial sums stay
// in L1/L2 across the K slices of a block, and the weights are re-read once per group (up to
// kGroupRows rows, batched decode, each weight is read from memory once per call).
constexpr int kGroupTiles = 8;
template <int MaxRows>
constexpr int kGroupRows = kGroupTiles * MaxRows;

// Columns [16 panelBegin, 16 panelEnd) of y: the panels of each block in that range.
template <template <int, int> class Tile, int MaxRows, class X, class W>
void walkPanels(const PackedMatrix& w, int panelBegin, int panelEnd, const TileOperands<X, W>& o) {
  static const TileTable<Tile, MaxRows, X, W> table;
  const int groupRows = kGroupRows<MaxRows>;
  // The strip after the range (the next column range's first, which this thread or the other
  // claims next): the range's last strip prefetches it, so that range does not start cold from
  // memory. Null at the matrix's end.
  const W* after = panelEnd < w.numPanels ? o.data + w.blockOffset(panelEnd / kBlockPanels) +
                                                (panelEnd % kBlockPanels) * kPanelWidth * o.unitWidth
                                          : nullptr;
  for (int g = 0; g < o.m; g += groupRows) {
    const int gEnd = o.m - g < groupRows ? o.m : g + groupRows;
    // The group's rows in tiles as even as can be (32 rows: 6, 6, 5, 5, 5, 5, not 6 x 5 + 2).
    const int n = gEnd - g, numTiles = (n + MaxRows - 1) / MaxRows;
    const int stripPanels = o.stripPanels ? o.stripPanels[(n + numTiles - 1) / numTiles - 1] : kBlockPanels;
    // K in slices as even as can be, each at most sliceBytes of a strip's weights.
    const int maxSlice = o.sliceBytes / int(stripPanels * kPanelWidth * o.unitWidth * sizeof(W));
    const int numSlices = (o.units + maxSlice - 1) / maxSlice;
    const int sliceUnits = numSlices > 0 ? (o.units + numSlices - 1) / numSlices : 1;
    for (int b = panelBegin / kBlockPanels; b * kBlockPanels < panelEnd; ++b) {
      const int numPanels = w.blockPanels(b);
      const int first = panelBegin > b * kBlockPanels ? panelBegin - b * kBlockPanels : 0;
      const int last = panelEnd - b * kBlockPanels < numPanels ? panelEnd - b * kBlockPanels : numPanels;
      const int blockCol = b * kBlockPanels * kPanelWidth;
      const W* block = o.data + w.blockOffset(b);
      const int stride = numPanels * kPanelWidth * o.unitWidth;  // W elements per unit
      const int panelUnit = kPanelWidth * o.unitWidth;          // W elements of a panel per unit
      for (int k0 = 0; k0 < o.units; k0 += sliceUnits) {
        const int k = o.units - k0 < sliceUnits ? o.units - k0 : sliceUnits;
        for (int p0 = first; p0 < last; p0 += stripPanels) {
          const int panels = last - p0 < stripPanels ? last - p0 : stripPanels;
          const int col = blockCol + p0 * kPanelWidth;
          const int cols = w.n - col < panels * kPanelWidth ? w.n - col : panels * kPanelWidth;
          const W* strip = block + size_t(k0) * stride + p0 * panelUnit;
          const W* next = p0 + panels < last            ? strip + panels * panelUnit
                          : k0 + k < o.units            ? block + size_t(k0 + k) * stride + first * panelUnit
                          : (b + 1) * kBlockPanels < panelEnd ? o.data + w.blockOffset(b + 1)
                                                        : after;
          for (int t = 0, r = g; t < numTiles; ++t) {
            const Slice slice{k0 == 0, k0 + k == o.units, next, t, numTiles};
            const int rows = n / numTiles + (t < n % numTiles ? 1 : 0);
            table.fn[rows - 1][panels - 1](o.x + size_t(r) * o.ldx + k0, o.ldx, strip, stride, k,
                                           o.bias ? o.bias + col : nullptr, o.y + size_t(r) * o.ldy + col, o.ldy,
                                           cols, slice);
            r += rows;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace nano
