/** Named synthetic model shapes used by tests, benches and the CLI. */
import { InvalidRequestError } from '../errors.js';
import type { ModelConfig } from './config.js';

export type PresetName = 'tiny' | 'small' | 'medium';

const LLAMA_DEFAULTS = {
  family: 'llama',
  normEps: 1e-5,
  ropeTheta: 10000,
  ropeNeox: true,
  tieEmbeddings: false,
  qkvBias: false,
} as const;

export const PRESETS: Readonly<Record<PresetName, Readonly<ModelConfig>>> = {
  tiny: {
    family: 'gpt2', vocabSize: 256, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4,
    headDim: 16, intermediateSize: 256, contextLength: 512, normEps: 1e-5, ropeTheta: 10000,
    ropeNeox: true, tieEmbeddings: true, qkvBias: false,
  },
  small: {
    ...LLAMA_DEFAULTS, vocabSize: 32000, hiddenSize: 288, numLayers: 6, numHeads: 6, numKvHeads: 6,
    headDim: 48, intermediateSize: 768, contextLength: 512,
  },
  medium: {
    ...LLAMA_DEFAULTS, vocabSize: 32000, hiddenSize: 768, numLayers: 12, numHeads: 12, numKvHeads: 12,
    headDim: 64, intermediateSize: 2048, contextLength: 1024,
  },
};

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** A fresh copy of a preset's config; throws InvalidRequestError for an unknown name. */
export function presetConfig(name: string): ModelConfig {
  if (!isPresetName(name)) {
    throw new InvalidRequestError(`unknown model preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`, 'model');
  }
  return { ...PRESETS[name] };
}
