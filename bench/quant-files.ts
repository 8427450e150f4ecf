/**
 * The quantized GGUF files the quantized bench runs: the medium preset and a 1B-class shape
 * (hidden 2048, 16 layers, 32 q / 8 kv heads, FFN 8192, vocab 128256), synthetic seeded
 * weights quantized by our quantizer tensor by tensor as they are made (the 1B model never
 * exists as f32), written by our GGUF writer, cached by name in `dir`. Adjacent-pair rotary
 * (ropeNeox = false): the layout GGUF files store, so no row permutation is needed.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../src/models/config.js';
import { writeGguf } from '../src/models/gguf.js';
import { presetConfig } from '../src/models/presets.js';
import { quantizeForScheme, type QuantScheme } from '../src/models/quant-scheme.js';
import { syntheticTensorsWith } from '../src/models/synthetic.js';

export type QuantShape = 'medium' | '1b';

export function quantShapeConfig(shape: QuantShape): ModelConfig {
  if (shape === 'medium') return { ...presetConfig('medium'), ropeNeox: false };
  return {
    family: 'llama', vocabSize: 128256, hiddenSize: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64,
    intermediateSize: 8192, contextLength: 2048, normEps: 1e-5, ropeTheta: 500000, ropeNeox: false, tieEmbeddings: false, qkvBias: false,
  };
}

/** The file of `shape` quantized with `scheme` (written once, then reused). */
export function ensureQuantFile(dir: string, shape: QuantShape, scheme: QuantScheme): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${shape}-${scheme}.gguf`);
  if (existsSync(path)) return path;
  const config = quantShapeConfig(shape);
  const tensors = syntheticTensorsWith(config, 0, (name, t) => quantizeForScheme(scheme, name, t, config.numLayers));
  writeGguf(`${path}.partial`, config, tensors, {}, {});
  renameSync(`${path}.partial`, path);
  return path;
}
