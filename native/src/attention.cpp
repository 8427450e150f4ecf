#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "attention_block.h"
#include "errors.h"

namespace nano {

namespace {

using BlockFn = FlashBlockFn;

BlockFn blockFn(const KvCache& kv, Isa isa) {
  if (isa == Isa::Avx512) return avx512FlashBlock(kv.dtype());
  if (isa == Isa::Avx2) return avx2FlashBlock(kv.dtype());
  return portableFlashBlock(kv.dtype());
}

// Where a walk over some of the rows' key segments leaves the partials of rows of several
// segments (see FlashBlock); none: every segment of each row, folded as it goes.
struct SegmentWalk {
  int seg0 = 0, seg1 = 1 << 30;
  float* partials = nullptr;
  int partialTok0 = 0, partialSeg0 = 0, partialSegs = 0;
};

// Attends tokens [begin, end) (any sequences), kv heads [g0, g1), in blocks of at most
// kBlockTokens adjacent tokens of one sequence.
void attendRange(BlockFn fn, const KvCache& kv, int layer, const LayerAttention& la, const AttentionScratch& sh, const float* qkv,
                 int begin, int end, int g0, int g1, const TokenPages& at, float* scratch, float* out, const SegmentWalk& walk = {}) {
  const int rowWidth = (sh.numHeads + 2 * sh.numKvHeads) * sh.headDim;
  for (int i = begin; i < end;) {
    const int seq = at.tokenSeq[i];
    int j = i + 1;
    while (j < end && j - i < kBlockTokens && at.tokenSeq[j] == seq) ++j;
    const FlashBlock b{&kv, layer, la, g0, g1, qkv, rowWidth, at.positions, at.pageTable + at.pageStart[seq],
                       i, j, out, scratch, walk.seg0, walk.seg1, walk.partials, walk.partialTok0, walk.partialSeg0,
                       walk.partialSegs};
    fn(b, sh);
    i = j;
  }
}

// The first key position a row at `pos` attends.
int firstKey(const LayerAttention& la, int pos) { return la.window > 0 && pos - la.window + 1 > 0 ? pos - la.window + 1 : 0; }

int segmentTasksFromEnv() {
  const char* env = std::getenv("NANO_SERVING_ATTENTION_SEGMENTS");
  if (!env || !*env) return 0;
  if (std::strcmp(env, "tasks") == 0) return 1;
  if (std::strcmp(env, "inline") == 0) return -1;
  throw CodedError("ERR_NATIVE_CONFIG", std::string("NANO_SERVING_ATTENTION_SEGMENTS must be 'tasks' or 'inline', got '") + env + "'");
}

}  // namespace

LayerAttention layerAttention(const ModelConfig& c, int layer) {
  return {c.attnScale > 0 ? c.attnScale : 1.0f / std::sqrt(float(c.headDim)), c.attnSoftcap, c.windowOf(layer)};
}

AttentionScratch::AttentionScratch(const ModelConfig& c, int ps, Isa kernelIsa, int maxTokens)
    : numHeads(c.numHeads), numKvHeads(c.numKvHeads), group(c.numHeads / c.numKvHeads), headDim(c.headDim),
      pageSize(ps), rowFloats(2 * size_t(c.headDim) + kTileKeys + 4), isa(kernelIsa), isPrefetchingWideKv(!isIntelCpu()), segmentTasks(segmentTasksFromEnv()) {
  groupStart.reserve(size_t(maxTokens) + 1);
  for (auto* v : {&groupSeg0, &groupSplit, &taskGroup, &taskSeg, &taskOrder}) v->reserve(size_t(maxTokens) + 1);
  groupPartials.reserve(size_t(maxTokens) + 1);
  groupCost.reserve(size_t(maxTokens) + 1);
}

void foldSegment(float* acc, float* stats, const float* partAcc, const float* partStats, int hd) {
  const float max = stats[0] > partStats[0] ? stats[0] : partStats[0];
  const float held = expFast(stats[0] - max), part = expFast(partStats[0] - max);
  for (int d = 0; d < hd; ++d) acc[d] = acc[d] * held + partAcc[d] * part;
  stats[1] = stats[1] * held + partStats[1] * part;
  stats[0] = max;
}

void attendTokens(const KvCache& kv, int layer, const ModelConfig& c, const AttentionScratch& sh, const float* qkv,
                  int begin, int end, const TokenPages& at, float* scratch, float* out) {
  attendRange(blockFn(kv, sh.isa), kv, layer, layerAttention(c, layer), sh, qkv, begin, end, 0, sh.numKvHeads, at, scratch, out);
}

// Fills sh.groupStart with the step's token groups (see attention.h); returns their number.
static int groupTokens(AttentionScratch& sh, int numTokens, const TokenPages& at) {
  std::vector<int32_t>& g = sh.groupStart;
  g.clear();
  g.push_back(0);
  for (int a = 0; a < numTokens;) {
    int b = a + 1;
    while (b < numTokens && at.tokenSeq[b] == at.tokenSeq[a]) ++b;
    const int len = b - a;
    if (len <= kBlockTokens) {
      if (b - g.back() > kBlockTokens) g.push_back(a);  // the run starts a new group of short runs
    } else {
      if (a > g.back()) g.push_back(a);
      const int numBlocks = (len + kBlockTokens - 1) / kBlockTokens;
      for (int k = 1; k < numBlocks; ++k) g.push_back(a + int(int64_t(len) * k / numBlocks));
      g.push_back(b);
    }
    a = b;
  }
  if (g.back() < numTokens) g.push_back(numTokens);
  return int(g.size()) - 1;
}

// A group's task is worth splitting by segment when its share of the step's attention is
// above 1 / (kSegmentShare x threads): the tasks left are then fine enough for the pool's
// dynamic claims to keep every thread busy to the end.
constexpr double kSegmentShare = 4;
// A group's work: the keys its rows attend, plus its walk over the K/V (read once for all its
// rows), which costs about what kWalkRows rows' arithmetic does.
constexpr double kWalkRows = 16;

void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& c, AttentionScratch& sh,
               const float* qkv, int numTokens, const TokenPages& at, float* scratch, float* out) {
  const BlockFn fn = blockFn(kv, sh.isa);
  const LayerAttention la = layerAttention(c, layer);
  const size_t perThread = sh.floatsPerThread();
  // Tasks: groups x ranges of kv heads, at least ~4 per thread when the step has few groups.
  const int numGroups = groupTokens(sh, numTokens, at);
  const int wantSplits = (4 * pool.size() + numGroups - 1) / numGroups;
  const int headsPerTask = std::max(1, sh.numKvHeads / std::max(1, wantSplits));
  const int numHeadTasks = (sh.numKvHeads + headsPerTask - 1) / headsPerTask;
  const int32_t* groupStart = sh.groupStart.data();
  // Each group's segments and work; the groups worth it run each segment as its own task.
  sh.groupSeg0.resize(numGroups), sh.groupSplit.resize(numGroups), sh.groupPartials.resize(numGroups), sh.groupCost.resize(numGroups);
  double total = 0;
  for (int g = 0; g < numGroups; ++g) {
    int lo = 1 << 30, hi = 0;
    double keys = 0;
    for (int i = groupStart[g]; i < groupStart[g + 1]; ++i) {
      const int pos = at.positions[i], first = firstKey(la, pos);
      lo = std::min(lo, first), hi = std::max(hi, pos);
      keys += pos - first + 1;
    }
    sh.groupSeg0[g] = lo / kSegmentKeys;
    sh.groupSplit[g] = hi / kSegmentKeys - lo / kSegmentKeys + 1;  // its segments, for now
    sh.groupCost[g] = keys + kWalkRows * (hi - lo + 1);
    total += sh.groupCost[g];
  }
  const double taskShare = double(headsPerTask) / sh.numKvHeads;
  size_t partialFloats = 0;
  sh.taskGroup.clear(), sh.taskSeg.clear();
  for (int g = 0; g < numGroups; ++g) {
    const int numSegs = sh.groupSplit[g];
    const bool isWorth = pool.size() > 1 && sh.groupCost[g] * taskShare * kSegmentShare * pool.size() > total;
    const bool split = numSegs > 1 && (sh.segmentTasks == 1 || (sh.segmentTasks == 0 && isWorth));
    sh.groupSplit[g] = split ? numSegs : 0;
    sh.groupPartials[g] = partialFloats;
    if (split) partialFloats += size_t(groupStart[g + 1] - groupStart[g]) * sh.numHeads * numSegs * (sh.headDim + 2);
    for (int s = 0; s < (split ? numSegs : 1); ++s) sh.taskGroup.push_back(g), sh.taskSeg.push_back(split ? sh.groupSeg0[g] + s : -1);
  }
  if (sh.partials.size() < partialFloats) sh.partials.resize(partialFloats);
  // Threads claim tasks in order: heaviest first (longest processing time first), so the last
  // ones claimed are the lightest and the threads finish together. A causal chunk's groups
  // grow heavier along it: in step order its heaviest would come last. Which thread runs a
  // task, and when, changes no output.
  const auto taskCost = [&](int tg) { const int g = sh.taskGroup[tg]; return sh.groupSplit[g] ? sh.groupCost[g] / sh.groupSplit[g] : sh.groupCost[g]; };
  sh.taskOrder.resize(sh.taskGroup.size());
  for (size_t i = 0; i < sh.taskOrder.size(); ++i) sh.taskOrder[i] = int32_t(i);
  std::sort(sh.taskOrder.begin(), sh.taskOrder.end(), [&](int32_t a, int32_t b) {
    const double ca = taskCost(a), cb = taskCost(b);
    return ca != cb ? ca > cb : a < b;
  });
  const int numTasks = int(sh.taskGroup.size()) * numHeadTasks;
  pool.forEachChunk(numTasks, [&](int task, int t) {
    const int tg = sh.taskOrder[task / numHeadTasks], g0 = (task % numHeadTasks) * headsPerTask;
    const int g = sh.taskGroup[tg], seg = sh.taskSeg[tg];
    SegmentWalk walk;
    if (seg >= 0) walk = {seg, seg + 1, sh.partials.data() + sh.groupPartials[g], groupStart[g], sh.groupSeg0[g], sh.groupSplit[g]};
    attendRange(fn, kv, layer, la, sh, qkv, groupStart[g], groupStart[g + 1], g0, std::min(sh.numKvHeads, g0 + headsPerTask),
                at, scratch + size_t(t) * perThread, out, walk);
  });
  // The split groups' rows of several segments: their partials folded in segment order.
  const int hd = sh.headDim;
  for (int g = 0; g < numGroups; ++g) {
    const int numSegs = sh.groupSplit[g];
    if (numSegs == 0) continue;
    float* partials = sh.partials.data() + sh.groupPartials[g];
    for (int i = groupStart[g]; i < groupStart[g + 1]; ++i) {
      const int pos = at.positions[i], seg0 = firstKey(la, pos) / kSegmentKeys, seg1 = pos / kSegmentKeys;
      if (seg0 == seg1) continue;  // written by its task
      for (int h = 0; h < sh.numHeads; ++h) {
        float* row = partials + (size_t(i - groupStart[g]) * sh.numHeads + h) * numSegs * (hd + 2);
        float* held = row + size_t(seg0 - sh.groupSeg0[g]) * (hd + 2);
        for (int s = seg0 + 1; s <= seg1; ++s) {
          const float* part = row + size_t(s - sh.groupSeg0[g]) * (hd + 2);
          foldSegment(held, held + hd, part, part + hd, hd);
        }
        float* o = out + size_t(i) * sh.numHeads * hd + size_t(h) * hd;
        const float inv = 1.0f / held[hd + 1];
        for (int d = 0; d < hd; ++d) o[d] = held[d] * inv;
      }
    }
  }
}

}  // namespace nano
