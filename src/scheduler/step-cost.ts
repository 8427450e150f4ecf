/**
 * A step's predicted cost, in token-equivalents (what one token's pass through the layers
 * costs), so the policy can size a prefill chunk that shares a step with decodes:
 *
 *   cost = fixed + sum over runs (tokens + sampled tokens x lm head + keys attended / keysPerToken)
 *
 * A chunk of n tokens from position s attends n s + n (n + 1) / 2 keys: at a long context its
 * attention, not its layers, is what it costs. With a budget the chunk is the longest whose
 * step stays within maxRatio x the cost of the step's decodes alone (at least one token when
 * no other chunk is in the step, so a prompt always progresses); a step without decodes is
 * not bounded. Pure: plain numbers in, plain numbers out.
 */

export interface StepCostModel {
  /** A step carrying prefill beside decodes costs at most this many times its decodes alone (>= 1). */
  readonly maxRatio: number;
  /** Cost of any step besides its tokens: thread wake-ups, weights streamed at small batches. */
  readonly fixedTokens: number;
  /** Extra cost of a token that is sampled (the lm head and the sampler). */
  readonly sampledTokens: number;
  /** Keys attended (one query, all layers and heads) that cost as much as one token's layers. */
  readonly keysPerToken: number;
}

/** The model's shape, as the cost needs it (a ModelConfig has these fields). */
export interface CostShape {
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly vocabSize: number;
}

/**
 * Measured on the CPU kernels (bench:long --grid, AVX2 Zen 3 and AVX-512 Zen 5): per flop the
 * attention runs ~3x slower than the GEMMs (short dot products, a softmax per page), and a
 * step costs ~8 tokens besides its tokens (weights streamed from memory at small batches).
 */
const ATTENTION_SLOWDOWN = 3;
const FIXED_TOKENS = 8;

/** The cost model of a model shape, with the given bound. */
export function stepCostModel(shape: CostShape, maxRatio: number): StepCostModel {
  const qDim = shape.numHeads * shape.headDim, kvDim = shape.numKvHeads * shape.headDim;
  const layerFlops = 2 * shape.hiddenSize * (2 * qDim + 2 * kvDim + 3 * shape.intermediateSize);
  const keyFlops = 4 * qDim;  // scores and weighted values, per key, per layer
  const lmHeadFlops = 2 * shape.hiddenSize * shape.vocabSize;
  return {
    maxRatio,
    fixedTokens: FIXED_TOKENS,
    sampledTokens: lmHeadFlops / (layerFlops * shape.numLayers),
    keysPerToken: layerFlops / keyFlops / ATTENTION_SLOWDOWN,
  };
}

/** Keys a run of n tokens from position `start` attends (causal, no window). */
export function keysAttended(start: number, n: number): number {
  return n * start + (n * (n + 1)) / 2;
}

/** The predicted cost of one run (no fixed part). */
export function runCost(model: StepCostModel, start: number, n: number, isSampled: boolean): number {
  return n + (isSampled ? model.sampledTokens : 0) + keysAttended(start, n) / model.keysPerToken;
}

/**
 * The longest chunk (<= maxTokens) from `start` whose cost fits `allowance`; `isSampledAt(n)`
 * says whether a chunk of n tokens would be sampled (it ends the prompt). Cost grows with n,
 * so a binary search finds it.
 */
export function chunkWithin(model: StepCostModel, allowance: number, start: number, maxTokens: number, isSampledAt: (n: number) => boolean): number {
  let lo = 0, hi = maxTokens;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (runCost(model, start, mid, isSampledAt(mid)) <= allowance) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
