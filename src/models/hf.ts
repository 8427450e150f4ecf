/**
 * Loads a Hugging Face model folder (config.json, model.safetensors or shards,
 * tokenizer.json, optional generation_config.json and tokenizer_config.json) into the
 * native executor's terms: a ModelConfig, tensors under the canonical names of
 * src/native/binding.ts, a tokenizer and generation defaults.
 * Architectures: see SUPPORTED_ARCHITECTURES in hf-config.ts. The chat template comes from
 * chat_template.jinja, chat_template.json or tokenizer_config.json (chat-template-file.ts).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import type { SentencePieceTokenizer } from '../tokenizer/sentencepiece.js';
import { loadTokenizerDir } from '../tokenizer/load.js';
import { readChatTemplates } from './chat-template-file.js';
import { toModelConfig } from './hf-config.js';
import { mapTensors } from './hf-tensors.js';
import type { SamplingDefaults } from '../engine/sampling.js';
import type { LoadedModel } from './resolve.js';
import { readSafetensorsDir } from './safetensors.js';

export { toModelConfig } from './hf-config.js';
export { expectedShapes } from './hf-tensors.js';

export interface GenerationDefaults {
  /** Tokens that end generation: generation_config.json's eos_token_id, else config.json's, else the tokenizer's eos_token. */
  eosTokenIds: number[];
  bosTokenId?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
}

export interface HfModel extends LoadedModel {
  tokenizer: HfTokenizer | SentencePieceTokenizer;
  generation: GenerationDefaults;
}

type Json = Record<string, unknown>;

export async function loadHfModel(dir: string): Promise<HfModel> {
  const configFile = join(dir, 'config.json');
  const hf = await readJson(configFile);
  const config = toModelConfig(hf, configFile);
  const generationFile = join(dir, 'generation_config.json');
  const generation = existsSync(generationFile) ? await readJson(generationFile) : {};
  const tokenizerConfigFile = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = existsSync(tokenizerConfigFile) ? await readJson(tokenizerConfigFile) : {};
  const tokenizer = await loadTokenizerDir(dir, { tokenizerConfig });
  if (tokenizer.vocabSize > config.vocabSize) {
    const file = join(dir, 'tokenizer.json');
    throw new ModelLoadError(`${file}: vocab mismatch: the tokenizer has ${tokenizer.vocabSize} ids, config.json's vocab_size is ${config.vocabSize}`, file);
  }
  const specialTokens = { bos: tokenText(tokenizerConfig.bos_token), eos: tokenText(tokenizerConfig.eos_token) };
  const eosTokenIds = ids(generation.eos_token_id) ?? ids(hf.eos_token_id) ?? ids(specialTokens.eos && tokenizer.tokenToId(specialTokens.eos)) ?? [];
  const tensors = mapTensors(await readSafetensorsDir(dir), config, dir);
  const templates = await readChatTemplates(dir, tokenizerConfig);
  return {
    name: basename(dir),
    config,
    tensors,
    tokenizer: tokenizer.withEosTokenIds(eosTokenIds),
    generation: {
      eosTokenIds,
      bosTokenId: ids(generation.bos_token_id ?? hf.bos_token_id)?.[0],
      temperature: num(generation.temperature),
      topP: num(generation.top_p),
      topK: num(generation.top_k),
      repetitionPenalty: num(generation.repetition_penalty),
      maxNewTokens: num(generation.max_new_tokens),
    },
    samplingDefaults: samplingDefaults(generation),
    chatTemplate: templates.default,
    chatTemplates: templates,
    specialTokens,
  };
}

// ---- small readers ----

async function readJson(file: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ModelLoadError(`${file}: ${reason}`, file, { cause: err });
  }
  try {
    const json = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Json;
  } catch (err) {
    throw new ModelLoadError(`${file}: corrupt JSON (${(err as Error).message})`, file, { cause: err });
  }
  throw new ModelLoadError(`${file}: not a JSON object`, file);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function ids(value: unknown): number[] | undefined {
  if (Number.isSafeInteger(value)) return [value as number];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => Number.isSafeInteger(v))) return value as number[];
  return undefined;
}

function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : undefined;
}

/** generation_config.json's sampling values: temperature / top_p / top_k only when do_sample is true (else transformers is greedy). */
function samplingDefaults(generation: Json): SamplingDefaults {
  const out: SamplingDefaults = {};
  const sampling = generation.do_sample === true;
  const temperature = num(generation.temperature);
  const topP = num(generation.top_p);
  const topK = generation.top_k;
  const repetitionPenalty = num(generation.repetition_penalty);
  if (sampling && temperature !== undefined) out.temperature = temperature;
  if (sampling && topP !== undefined) out.topP = topP;
  if (sampling && Number.isSafeInteger(topK) && (topK as number) >= 0) out.topK = topK as number;
  if (repetitionPenalty !== undefined) out.repetitionPenalty = repetitionPenalty;
  return out;
}
