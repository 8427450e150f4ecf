export { HfTokenizer, type AddedToken, type DecodeOptions, type EncodeOptions } from './hf-tokenizer.js';
export { loadTokenizer, loadTokenizerDir, type TokenizerLoadOptions } from './load.js';
