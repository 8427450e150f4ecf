/**
 * NanoServingEngine: what users embed. It loads a model, starts the native executor and
 * drives the engine loop; submit() returns token observables and a result promise.
 */
import type { Observable } from 'rxjs';
import { NativeExecutor } from '../executor/native.js';
import type { Executor } from '../executor/step.js';
import { InvalidRequestError } from '../errors.js';
import type { ChatTemplates } from '../models/chat-template-file.js';
import { resolveModel } from '../models/resolve.js';
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';
import { EngineCore, type SubmitOptions } from './core.js';
import type { EngineEvent } from './events.js';
import type { RequestHandle, RequestResult } from './handle.js';
import { resolveEngineOptions, type EngineOptions } from './options.js';
import { stepCostFor } from './step-cost-option.js';
import { withSamplingDefaults, type SamplingDefaults, type SamplingParams } from './sampling.js';
import type { EngineStats } from './stats.js';
import { checkResponseFormat, type ResponseFormat } from '../grammar/response-format.js';
import type { PageCensus } from '../pages/census.js';

/** What the engine keeps of its model besides the executor. */
interface ModelExtras {
  samplingDefaults?: SamplingDefaults;
  chatTemplates?: ChatTemplates;
}

export class NanoServingEngine {
  private constructor(
    private readonly core: EngineCore,
    readonly modelName: string,
    /** Jinja chat template of the model, if it has one (the server falls back to a simple documented template). */
    readonly chatTemplate: string | undefined,
    readonly specialTokens: { bos?: string; eos?: string },
    private readonly model: ModelExtras,
  ) {}

  /** Sampling values the model ships (generation_config.json), used where a request leaves them unset. */
  get samplingDefaults(): SamplingDefaults | undefined {
    return this.model.samplingDefaults;
  }

  /** Named chat templates of the model folder ('tool_use' is for requests with tools). */
  get chatTemplates(): ChatTemplates | undefined {
    return this.model.chatTemplates;
  }

  /** The model's tokenizer on text; addSpecialTokens false for text that already holds them (a rendered chat). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, options);
  }

  static async create(options: EngineOptions = {}): Promise<NanoServingEngine> {
    const resolved = resolveEngineOptions(options);
    let executor: Executor;
    let tokenizer: Tokenizer;
    let name: string;
    let chatTemplate: string | undefined;
    let specialTokens: { bos?: string; eos?: string } | undefined;
    let samplingDefaults: SamplingDefaults | undefined;
    let chatTemplates: ChatTemplates | undefined;
    if (resolved.executor) {
      executor = resolved.executor;
      tokenizer = new ByteTokenizer(executor.info.vocabSize);
      name = 'custom';
    } else {
      const model = await resolveModel(resolved.model ?? 'default', { seed: resolved.weightSeed });
      executor = NativeExecutor.create({
        config: model.config,
        tensors: model.tensors,
        weightDtype: resolved.weightDtype,
        kvDtype: resolved.kvDtype,
        numPages: resolved.kvCachePages,
        pageSize: resolved.pageSize,
        numThreads: resolved.threads,
        maxBatchTokens: resolved.maxBatchTokens,
        maxSeqs: resolved.maxRunning,
      });
      tokenizer = model.tokenizer;
      name = model.name;
      chatTemplate = model.chatTemplate;
      specialTokens = model.specialTokens;
      samplingDefaults = model.samplingDefaults;
      chatTemplates = model.chatTemplates;
    }
    const core = new EngineCore(executor, tokenizer, {
      maxBatchTokens: resolved.maxBatchTokens,
      maxRunning: resolved.maxRunning,
      maxChunkSize: resolved.maxChunkSize,
      chunkedPrefill: resolved.chunkedPrefill,
      stepCost: stepCostFor(executor.info, resolved),
      prefixCache: resolved.prefixCache,
      maxCachedPages: resolved.maxCachedPages,
      maxWaiting: resolved.maxWaiting,
      requestTimeoutMs: resolved.requestTimeoutMs,
      maxPromptTokens: resolved.maxPromptTokens,
      maxOutputTokens: resolved.maxOutputTokens,
      defaultMaxTokens: samplingDefaults?.maxTokens,
      policy: resolved.policy,
      syncSteps: resolved.syncSteps,
    });
    return new NanoServingEngine(core, name, chatTemplate, specialTokens ?? {}, { samplingDefaults, chatTemplates });
  }

  /** Queues a prompt (text or token ids). Throws a typed error at once on bad input. */
  submit(prompt: string | ArrayLike<number>, params?: SamplingParams, options?: SubmitOptions): RequestHandle {
    return this.core.submit(prompt, withSamplingDefaults(params === undefined ? {} : params, this.samplingDefaults), options);
  }

  /**
   * Compiles a responseFormat ahead of submit (compiled grammars are cached, so the submit that
   * follows starts at once); rejects with InvalidRequestError naming the part that cannot be used.
   */
  async prepareResponseFormat(format: ResponseFormat): Promise<void> {
    const checked = checkResponseFormat(format);
    if (checked) await this.core.constrained.prepare(checked);
  }

  /**
   * The batch call: every prompt served concurrently, results in input order. `params` is
   * one object for every prompt, or a list with one per prompt (same length). Bad input in
   * any prompt throws before anything is queued.
   */
  async generate(
    prompts: ReadonlyArray<string | ArrayLike<number>>,
    params?: SamplingParams | ReadonlyArray<SamplingParams>,
  ): Promise<RequestResult[]> {
    const paramsOf = paramsPerPrompt(prompts, params);
    const handles: RequestHandle[] = [];
    try {
      for (let i = 0; i < prompts.length; i++) handles.push(this.submit(prompts[i], paramsOf(i), { detached: true }));
    } catch (error) {
      for (const handle of handles) handle.abort();
      await Promise.allSettled(handles.map((handle) => handle.done));
      throw error;
    }
    return Promise.all(handles.map((handle) => handle.done));
  }

  get tokenizer(): Tokenizer {
    return this.core.tokenizer;
  }

  get info() {
    return this.core.executor.info;
  }

  stats(): EngineStats {
    return this.core.stats();
  }

  get events$(): Observable<EngineEvent> {
    return this.core.events$;
  }

  /** Resolves when nothing is waiting or running. */
  whenIdle(): Promise<void> {
    return this.core.whenIdle();
  }

  /** Throws if page accounting is inconsistent (tests). */
  checkIntegrity(): void {
    this.core.checkIntegrity();
  }

  /** Who holds which page, counted from the holders (tests: checkPageConservation from nano-serving/testing). */
  pageCensus(): PageCensus {
    return this.core.pageCensus();
  }

  /** Stops accepting; aborts in-flight requests (or drains them with drain: true); frees native memory. */
  close(options: { drain?: boolean } = {}): Promise<void> {
    return this.core.close(options);
  }
}

function paramsPerPrompt(
  prompts: ReadonlyArray<unknown>,
  params: SamplingParams | ReadonlyArray<SamplingParams> | undefined,
): (index: number) => SamplingParams | undefined {
  if (!Array.isArray(prompts)) throw new InvalidRequestError('prompts must be an array', 'prompts');
  if (!Array.isArray(params)) return () => params as SamplingParams | undefined;
  if (params.length !== prompts.length) {
    throw new InvalidRequestError(`params has ${params.length} entries for ${prompts.length} prompts (pass one object, or one per prompt)`, 'params');
  }
  return (index) => params[index] as SamplingParams;
}
