export { HfTokenizer, type AddedToken, type DecodeOptions, type EncodeOptions } from './hf-tokenizer.js';
export { loadTokenizer } from './load.js';
