/**
 * Compiles response formats against one model's vocabulary (XGrammar), keeps the compiled
 * grammars in a small LRU cache, and makes one matcher per request.
 */
import type { CompiledGrammar, GrammarCompiler } from '@mlc-ai/web-xgrammar';
import { InvalidRequestError } from '../errors.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { BYTE_TO_CHAR } from '../tokenizer/byte-level.js';
import { GrammarState } from './grammar-state.js';
import { formatKey, type ResponseFormat } from './response-format.js';
import { callXGrammar, loadXGrammar, type XGrammarModule } from './xgrammar.js';

const CACHE_SIZE = 64;
/** Compact, one-line JSON (indent -1 = none): `{"a": 1, "b": [2, 3]}`. */
const JSON_SEPARATORS: [string, string] = [', ', ': '];

export class GrammarEngine {
  private readonly cache = new Map<string, Promise<CompiledGrammar>>();

  private constructor(
    private readonly xg: XGrammarModule,
    private readonly compiler: GrammarCompiler,
    private readonly stopTokenIds: readonly number[],
    /** Words of one token mask: ceil(vocabSize / 32). */
    readonly maskWords: number,
  ) {}

  /** Describes the vocabulary to XGrammar once (token bytes as byte-level strings, special tokens as empty). */
  static async create(tokenizer: Tokenizer, vocabSize: number): Promise<GrammarEngine> {
    const tokenBytes = tokenizer.tokenBytes?.bind(tokenizer);
    if (!tokenBytes) throw new InvalidRequestError('responseFormat: this model\'s tokenizer does not expose token bytes, so output cannot be constrained', 'responseFormat');
    const xg = await loadXGrammar();
    const vocab = encodeVocabulary(tokenBytes, Math.min(tokenizer.vocabSize, vocabSize));
    const stop = tokenizer.eosTokenIds.filter((id) => id < vocabSize);
    const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, vocabSize, stop.length > 0 ? [...stop] : undefined);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    return new GrammarEngine(xg, compiler, stop, Math.ceil(vocabSize / 32));
  }

  /** Compiles (or finds in the cache) a format; InvalidRequestError naming the parameter when XGrammar refuses it. */
  compile(format: ResponseFormat): Promise<CompiledGrammar> {
    const key = formatKey(format);
    let compiled = this.cache.get(key);
    if (compiled) {
      this.cache.delete(key); // re-insert: most recently used last
    } else {
      compiled = callXGrammar(() => this.compileNow(format)).catch((error: Error) => {
        this.cache.delete(key);
        throw refusal(format, error);
      });
      this.evictIfFull();
    }
    this.cache.set(key, compiled);
    return compiled;
  }

  /** A fresh matcher for one request. */
  async createState(format: ResponseFormat): Promise<GrammarState> {
    const compiled = await this.compile(format);
    const matcher = await this.xg.GrammarMatcher.createGrammarMatcher(compiled, undefined, this.stopTokenIds.length === 0);
    return new GrammarState(matcher);
  }

  private compileNow(format: ResponseFormat): Promise<CompiledGrammar> {
    switch (format.type) {
      case 'json_object':
        return this.compiler.compileJSONSchema('{"type": "object"}', false, -1, JSON_SEPARATORS, false);
      case 'json_schema':
        return this.compiler.compileJSONSchema(JSON.stringify(format.schema), false, -1, JSON_SEPARATORS, format.strict ?? false);
      case 'regex':
        return this.compiler.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: format.pattern } });
      case 'grammar':
        return this.compiler.compileGrammar(format.grammar, format.root ?? 'root');
      case 'text':
        return this.compiler.compileGrammar('root ::= [^]*', 'root');
    }
  }

  private evictIfFull(): void {
    while (this.cache.size >= CACHE_SIZE) {
      const oldest = this.cache.keys().next().value as string;
      const entry = this.cache.get(oldest);
      this.cache.delete(oldest);
      void entry?.then((grammar) => grammar.dispose(), () => undefined);
    }
  }
}

/** XGrammar's byte-level form of every token (GPT-2's byte-to-character table); "" marks a special token. */
function encodeVocabulary(tokenBytes: (id: number) => Uint8Array | null, size: number): string[] {
  const vocab = new Array<string>(size);
  for (let id = 0; id < size; id++) {
    const bytes = tokenBytes(id);
    let text = '';
    if (bytes) for (const b of bytes) text += BYTE_TO_CHAR[b];
    vocab[id] = text;
  }
  return vocab;
}

function refusal(format: ResponseFormat, error: Error): InvalidRequestError {
  const param = format.type === 'json_schema' ? 'responseFormat.schema' : format.type === 'regex' ? 'responseFormat.pattern' : format.type === 'grammar' ? 'responseFormat.grammar' : 'responseFormat';
  return new InvalidRequestError(`${param}: cannot be compiled: ${error.message}`, param);
}
