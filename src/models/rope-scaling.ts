/**
 * config.json's rotary settings -> RopeSpec, as transformers 5 computes them (float32 tensors,
 * so every step here is rounded to float32 with Math.fround).
 *
 * Layouts: transformers 5 writes `rope_parameters: { rope_type, rope_theta, ... }` (Gemma 3:
 * one such entry per layer type); transformers 4 wrote `rope_theta` (and Gemma 3's
 * `rope_local_base_freq`) at the top and the scaling in `rope_scaling` ({ type | rope_type, ... }).
 * Types: default, linear, dynamic (NTK), yarn, llama3, longrope. Any other type, or a field a
 * type does not know, is refused by name: it would change the math.
 */
import type { RopeSpec } from './config.js';

type Json = Record<string, unknown>;
export type Fail = (problem: string) => never;

const f32 = Math.fround;

/** Fields each type reads (besides rope_type / type / rope_theta / partial_rotary_factor). */
const KNOWN_FIELDS: Record<string, string[]> = {
  default: [],
  linear: ['factor'],
  dynamic: ['factor', 'original_max_position_embeddings'],
  yarn: ['factor', 'original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'truncate'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  longrope: ['short_factor', 'long_factor', 'factor', 'attention_factor', 'original_max_position_embeddings'],
};
const COMMON_FIELDS = ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor'];

export interface RopeSource {
  /** The parameters of one rotary table, merged from either layout. */
  params: Json;
  /** Where they came from, for error messages (e.g. "rope_parameters.full_attention"). */
  where: string;
}

/** The rotary parameters of a config for one layer type ('full_attention' / 'sliding_attention'), in either layout. */
export function ropeSource(hf: Json, layerType: string | undefined, fail: Fail): RopeSource {
  const v5 = hf.rope_parameters;
  if (v5 != null) {
    if (typeof v5 !== 'object' || Array.isArray(v5)) fail(`rope_parameters must be an object, got ${JSON.stringify(v5)}`);
    const perType = v5 as Json;
    if (layerType && (perType.full_attention || perType.sliding_attention)) {
      const entry = perType[layerType];
      if (!entry || typeof entry !== 'object') fail(`rope_parameters.${layerType} is missing`);
      return { params: entry as Json, where: `rope_parameters.${layerType}` };
    }
    if (perType.full_attention || perType.sliding_attention) fail('rope_parameters per layer type is only known for Gemma 3');
    return { params: perType, where: 'rope_parameters' };
  }
  // transformers 4: theta at the top; Gemma 3's local layers use rope_local_base_freq and no scaling.
  const scaling = hf.rope_scaling;
  if (scaling != null && (typeof scaling !== 'object' || Array.isArray(scaling))) fail(`rope_scaling must be an object, got ${JSON.stringify(scaling)}`);
  if (layerType === 'sliding_attention' && hf.rope_local_base_freq != null) {
    return { params: { rope_type: 'default', rope_theta: hf.rope_local_base_freq }, where: 'rope_local_base_freq' };
  }
  const params: Json = { ...((scaling as Json | null) ?? {}) };
  if (hf.rope_theta != null) params.rope_theta = hf.rope_theta;
  return { params, where: scaling != null ? 'rope_scaling' : 'rope_theta' };
}

export interface RopeContext {
  headDim: number;
  maxPositions: number;
  /** partial_rotary_factor at the top of config.json (transformers 4, Phi-3). */
  partialRotaryFactor?: number;
  /** original_max_position_embeddings at the top of config.json (Phi-3). */
  originalMaxPositions?: number;
}

export interface RopeResult {
  spec: RopeSpec;
  /** The context the table is good for (dynamic and linear scaling extend max_position_embeddings). */
  contextLength: number;
}

export function buildRope(source: RopeSource, ctx: RopeContext, fail: Fail): RopeResult {
  const p = source.params;
  const at = (field: string): string => `${source.where}.${field}`;
  const type = String(p.rope_type ?? p.type ?? 'default');
  const known = KNOWN_FIELDS[type];
  if (!known) fail(`${at('rope_type')} ${JSON.stringify(type)} is not supported (supported: ${Object.keys(KNOWN_FIELDS).join(', ')})`);
  for (const key of Object.keys(p)) {
    if (!COMMON_FIELDS.includes(key) && !known.includes(key) && p[key] != null) fail(`${at(key)} is not supported for rope_type ${type}`);
  }
  const num = (field: string, fallback?: number): number => {
    const value = p[field] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${at(field)} must be a positive number, got ${JSON.stringify(p[field])}`);
    return value as number;
  };
  const base = num('rope_theta', 10000);
  const partial = typeof p.partial_rotary_factor === 'number' ? p.partial_rotary_factor : (ctx.partialRotaryFactor ?? 1);
  if (!(partial > 0 && partial <= 1)) fail(`partial_rotary_factor must be in (0, 1], got ${partial}`);
  const dim = Math.trunc(ctx.headDim * partial);
  if (dim < 2 || dim % 2 !== 0) fail(`rotary dimension ${dim} (head_dim * partial_rotary_factor) must be even and >= 2`);
  const plain = defaultInvFreq(base, dim);
  const spec = (invFreq: number[], extra: Partial<RopeSpec> = {}): RopeSpec => ({ rotaryDim: dim, invFreq, attentionFactor: 1, ...extra });
  switch (type) {
    case 'default':
      return { spec: spec(plain), contextLength: ctx.maxPositions };
    case 'linear': {
      const factor = num('factor');
      return { spec: spec(plain.map((f) => f32(f / factor))), contextLength: Math.floor(ctx.maxPositions * factor) };
    }
    case 'dynamic': {
      const factor = num('factor');
      const original = num('original_max_position_embeddings', ctx.maxPositions);
      return { spec: spec(plain, { originalContext: original, dynamic: { base, factor } }), contextLength: Math.floor(ctx.maxPositions * factor) };
    }
    case 'llama3':
      return { spec: spec(llama3InvFreq(plain, num('factor'), num('low_freq_factor'), num('high_freq_factor'), num('original_max_position_embeddings'))), contextLength: ctx.maxPositions };
    case 'yarn':
      return yarn(p, base, dim, ctx, num, fail, at);
    default:
      return longrope(p, base, dim, ctx, num, fail, at);
  }
}

/** 1 / base^(2i / dim) for i < dim / 2, in float32 as torch computes it. */
export function defaultInvFreq(base: number, dim: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) out.push(f32(1 / f32(Math.pow(f32(base), f32(i / dim)))));
  return out;
}

function llama3InvFreq(inv: number[], factor: number, low: number, high: number, original: number): number[] {
  const lowWavelen = original / low;
  const highWavelen = original / high;
  return inv.map((f) => {
    const wavelen = f32(f32(2 * Math.PI) / f);
    const scaled = wavelen > lowWavelen ? f32(f / factor) : f;
    if (wavelen < highWavelen || wavelen > lowWavelen) return scaled;
    const smooth = f32(f32(f32(original / wavelen) - low) / (high - low));
    return f32(f32(f32(f32(1 - smooth) * scaled) / factor) + f32(smooth * scaled));
  });
}

type Num = (field: string, fallback?: number) => number;

function yarn(p: Json, base: number, dim: number, ctx: RopeContext, num: Num, fail: Fail, at: (f: string) => string): RopeResult {
  const factor = num('factor');
  const original = num('original_max_position_embeddings', ctx.maxPositions);
  const mscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  let attentionFactor: number;
  if (p.attention_factor != null) attentionFactor = num('attention_factor');
  else if (p.mscale != null && p.mscale_all_dim != null) attentionFactor = mscale(factor, num('mscale')) / mscale(factor, num('mscale_all_dim'));
  else attentionFactor = mscale(factor);
  const betaFast = p.beta_fast == null ? 32 : num('beta_fast');
  const betaSlow = p.beta_slow == null ? 1 : num('beta_slow');
  if (p.truncate != null && typeof p.truncate !== 'boolean') fail(`${at('truncate')} must be a boolean`);
  const truncate = p.truncate !== false;
  const correctionDim = (rotations: number): number => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const invFreq: number[] = [];
  for (let i = 0; i < dim / 2; i++) {
    const pos = f32(Math.pow(f32(base), f32((2 * i) / dim)));
    const extrapolation = f32(1 / pos);
    const interpolation = f32(1 / f32(factor * pos));
    const ramp = Math.min(1, Math.max(0, f32(f32(i - low) / f32(high - low))));
    const extrapolationFactor = f32(1 - ramp);
    invFreq.push(f32(f32(interpolation * f32(1 - extrapolationFactor)) + f32(extrapolation * extrapolationFactor)));
  }
  const contextLength = Math.max(ctx.maxPositions, Math.floor(original * factor));
  return { spec: { rotaryDim: dim, invFreq, attentionFactor }, contextLength };
}

function longrope(p: Json, base: number, dim: number, ctx: RopeContext, num: Num, fail: Fail, at: (f: string) => string): RopeResult {
  const factors = (field: string): number[] => {
    const list = p[field];
    if (!Array.isArray(list) || list.length !== dim / 2 || !list.every((v) => typeof v === 'number' && v > 0)) {
      fail(`${at(field)} must be a list of ${dim / 2} positive numbers`);
    }
    return list as number[];
  };
  const short = factors('short_factor');
  const long = factors('long_factor');
  // transformers: the ratio of max_position_embeddings to the original context, when the config has the latter, else `factor`.
  const originalTop = ctx.originalMaxPositions;
  const original = originalTop ?? (p.original_max_position_embeddings != null ? num('original_max_position_embeddings') : ctx.maxPositions);
  const factor = originalTop != null ? ctx.maxPositions / originalTop : p.factor != null ? num('factor') : 1;
  const attentionFactor = p.attention_factor != null ? num('attention_factor') : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  const table = (ext: number[]): number[] => ext.map((e, i) => f32(1 / f32(f32(e) * f32(Math.pow(f32(base), f32((2 * i) / dim))))));
  return {
    spec: { rotaryDim: dim, invFreq: table(short), longInvFreq: table(long), attentionFactor, originalContext: original },
    contextLength: ctx.maxPositions,
  };
}
