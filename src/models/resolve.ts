/**
 * Turns the `model` option into a config, weights and a tokenizer: a synthetic preset
 * ('tiny', 'small', 'medium'), a synthetic ModelConfig, 'default' (the embedded trained
 * model when the package ships one), a path to a Hugging Face model folder, or a .gguf file.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelLoadError } from '../errors.js';
import { ByteTokenizer, type Tokenizer } from '../engine/tokenizer.js';
import type { SamplingDefaults } from '../engine/sampling.js';
import type { ChatTemplates } from './chat-template-file.js';
import type { ModelConfig, TensorMap } from './config.js';
import { isPresetName, presetConfig } from './presets.js';
import { syntheticTensors } from './synthetic.js';
import { loadHfModel } from './hf.js';
import { loadGgufModel } from './gguf-loader.js';

export interface LoadedModel {
  name: string;
  config: ModelConfig;
  tensors: TensorMap;
  tokenizer: Tokenizer;
  /** Jinja chat template of the model folder, if it has one (chat-template-file.ts says where it is read from). */
  chatTemplate?: string;
  /** Named templates besides it ('tool_use' is picked when a request passes tools). */
  chatTemplates?: ChatTemplates;
  /** Sampling values the model ships (generation_config.json), used where a request leaves them unset. */
  samplingDefaults?: SamplingDefaults;
  /** Special tokens the chat template refers to (bos_token, eos_token). */
  specialTokens?: { bos?: string; eos?: string };
}

export type ModelSpec = string | ModelConfig;

/** The folder of the embedded default model, if the package ships one. */
export function defaultModelDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'src', 'models', 'default');
    if (existsSync(join(candidate, 'config.json')) && existsSync(join(candidate, 'model.safetensors'))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

export async function resolveModel(spec: ModelSpec, options: { seed?: number } = {}): Promise<LoadedModel> {
  if (typeof spec === 'object' && spec !== null) {
    return { name: 'synthetic', config: spec, tensors: syntheticTensors(spec, options.seed ?? 0), tokenizer: new ByteTokenizer(spec.vocabSize) };
  }
  if (typeof spec !== 'string' || spec.length === 0) throw new ModelLoadError(`model must be a preset name, a path or a config, got ${String(spec)}`);
  if (isPresetName(spec)) {
    const config = presetConfig(spec);
    return { name: spec, config, tensors: syntheticTensors(config, options.seed ?? 0), tokenizer: new ByteTokenizer(config.vocabSize) };
  }
  const dir = spec === 'default' ? defaultModelDir() : spec;
  if (spec === 'default' && !dir) return resolveModel('tiny', options);
  if (!dir || !existsSync(dir)) throw new ModelLoadError(`unknown model "${spec}": not a preset (tiny, small, medium, default) and no such path`, spec);
  if (dir.toLowerCase().endsWith('.gguf')) return loadGgufModel(dir);
  return loadHfModel(dir);
}
