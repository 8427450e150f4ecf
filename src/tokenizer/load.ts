/** Reads a tokenizer.json from disk; every failure is a ModelLoadError naming the file. */
import { readFile } from 'node:fs/promises';
import { ModelLoadError } from '../errors.js';
import { HfTokenizer } from './hf-tokenizer.js';

export async function loadTokenizer(file: string, options: { eosTokenIds?: number[] } = {}): Promise<HfTokenizer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ModelLoadError(`${file}: cannot read tokenizer (${(err as Error).message})`, file, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${file}: tokenizer is not valid JSON (${(err as Error).message})`, file, { cause: err });
  }
  try {
    return HfTokenizer.fromJson(json, options);
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, file, { cause: err });
  }
}
