/**
 * The engine loop. One step (stepOnce), as in nano-vllm's step():
 *   plan = planner.decide()          schedule: the policy's plan, checked (planner.ts)
 *   batch = applier.apply(plan)      preempt, admit, grow pages, exactly as planned (plan-apply.ts)
 *   output = run(batch)              the forward pass (native or simulated)
 *   postprocess(batch, output)       tokens out, stop checks, endings (postprocess.ts); then release pages
 * The only file that touches scheduler, pages, lifecycle machines, streams and the executor together.
 */
import { Subject, type Observable } from 'rxjs';
import { CapacityError, EngineClosedError, NanoServingError, wrapNativeError } from '../errors.js';
import type { Executor, StepOutput } from '../executor/step.js';
import { createTickLoop, type TickLoop } from '../../streams/tick.js';
import { LifecycleRunner } from '../../machines/lifecycle.js';
import type { SchedulerConfig, SchedulerView, StepPlan } from '../scheduler/view.js';
import { realClock, type EngineClock } from './clock.js';
import { Endings } from './endings.js';
import { stepEvent, type EngineEvent } from './events.js';
import { createHandle, RequestOutputs, type RequestHandle } from './handle.js';
import { validateRequest, validateTimeout } from './intake.js';
import { KvPages } from './kv-pages.js';
import type { PageCensus } from '../pages/census.js';
import { PlanApplier, type Batch } from './plan-apply.js';
import { Planner, type SchedulingPolicy } from './planner.js';
import { Postprocessor } from './postprocess.js';
import { RequestSlot } from './request-slot.js';
import { RequestTable } from './request-table.js';
import type { SamplingParams } from './sampling.js';
import { buildStats, StatsCounters, type EngineStats } from './stats.js';
import { StepBuffers } from './step-input.js';
import { SyncStepChooser, validateSyncSteps, type SyncSteps } from './sync-steps.js';
import { TextStream } from './text-stream.js';
import { TokenOutput } from './token-output.js';
import type { Tokenizer } from './tokenizer.js';
import { ConstrainedDecoding } from '../grammar/constrained-decoding.js';
import type { ResponseFormat } from '../grammar/response-format.js';

export interface CoreOptions extends SchedulerConfig {
  prefixCache: boolean;
  /** Cap on pages the prefix cache keeps (default: no cap beyond the pool). */
  maxCachedPages?: number;
  /** Waiting requests beyond this are refused with ERR_QUEUE_FULL. */
  maxWaiting: number;
  /** Default per-request deadline in milliseconds (none by default). */
  requestTimeoutMs?: number;
  /** Longest prompt accepted (ERR_CONTEXT_LENGTH beyond); the context minus one by default. */
  maxPromptTokens?: number;
  /** Cap on a request's maxTokens (ERR_CONTEXT_LENGTH beyond), and its default. */
  maxOutputTokens?: number;
  /** maxTokens of a request that sets none (a model's generation_config max_new_tokens); 256 by default. Clamped to the room left, like the default. */
  defaultMaxTokens?: number;
  /** The scheduling policy; the built-in one by default. Swap it to property-test your own. */
  policy?: SchedulingPolicy;
  /** Called with each plan before it is applied (tests and the invariant checkers use it). */
  onPlan?: (view: SchedulerView, plan: StepPlan) => void;
  /** Time stamps and deadline timers; real time by default (the harness injects a virtual clock). */
  clock?: EngineClock;
  /** true: no tick loop; steps run only when step() is called (model-based tests choose when). */
  manualSteps?: boolean;
  /** Short steps on the JS thread (sync-steps.ts): 'auto' (default), true (every unconstrained step) or false. */
  syncSteps?: SyncSteps;
}

export type { SchedulingPolicy };

export interface SubmitOptions {
  /** Higher is admitted first; equal priorities keep arrival order. */
  priority?: number;
  /** Keep generating when every subscriber has unsubscribed. */
  detached?: boolean;
  /** Deadline for this request in milliseconds (> 0; Infinity = none); past it the request ends with finishReason 'timeout'. */
  timeoutMs?: number;
}

export class EngineCore {
  readonly kv: KvPages;
  readonly clock: EngineClock;
  readonly counters = new StatsCounters();
  readonly table = new RequestTable();
  /** Evaluates every request's lifecycle machine, its deadlines on this engine's clock. */
  private readonly lifecycles: LifecycleRunner;
  readonly output: TokenOutput;
  private readonly endings: Endings;
  private readonly applier: PlanApplier;
  private readonly planner: Planner;
  private readonly postprocessor: Postprocessor;
  private readonly buffers: StepBuffers;
  private readonly events = new Subject<EngineEvent>();
  private readonly loop: TickLoop;
  private nextId = 1;
  private wasLastStepIdle = false;
  isStepInFlight = false;
  private isClosed = false;
  private idleWaiters: Array<() => void> = [];
  /** Grammar states of requests with a responseFormat (XGrammar loads on first use). */
  readonly constrained: ConstrainedDecoding;
  private numCompiling = 0;
  private readonly syncSteps: SyncStepChooser;

  constructor(readonly executor: Executor, readonly tokenizer: Tokenizer, readonly options: CoreOptions) {
    const { numPages, pageSize } = executor.info;
    this.clock = options.clock ?? realClock;
    this.lifecycles = new LifecycleRunner(this.clock);
    this.kv = new KvPages(numPages, pageSize, options.prefixCache, options.maxCachedPages);
    this.output = new TokenOutput(this.counters, tokenizer.eosTokenIds, executor.info.contextLength, (slot, reason) => this.endings.end(slot, reason));
    this.endings = new Endings(this);
    this.applier = new PlanApplier(this.kv, this.table, this.counters, (slot) => this.emitState(slot));
    this.planner = new Planner(this.table, this.kv, this.endings, executor.info, options);
    this.buffers = new StepBuffers(executor.info, this.kv.kept);
    this.constrained = new ConstrainedDecoding(tokenizer, executor.info.vocabSize);
    this.syncSteps = new SyncStepChooser(validateSyncSteps(options.syncSteps, executor), executor);
    this.postprocessor = new Postprocessor(this.counters, this.kv, this.output, this.constrained, this.endings, (slot) => this.emitState(slot));
    this.loop = options.manualSteps
      ? { wake: () => undefined, isRunning: false, stop: () => undefined }
      : createTickLoop(() => this.runStep(), (error) => this.events.next({ type: 'engine.error', error }));
  }

  get events$(): Observable<EngineEvent> {
    return this.events.asObservable();
  }

  submit(prompt: string | ArrayLike<number>, params: SamplingParams = {}, options: SubmitOptions = {}): RequestHandle {
    if (this.isClosed) throw new EngineClosedError();
    const id = this.nextId++;
    const { tokens, sampling } = validateRequest(prompt, params, id, this.tokenizer, this.executor.info, this.options);
    const timeoutMs = validateTimeout(options.timeoutMs ?? this.options.requestTimeoutMs);
    if (this.table.numWaiting >= this.options.maxWaiting) throw new CapacityError(`queue is full (${this.options.maxWaiting} waiting)`, 'ERR_QUEUE_FULL');
    const text = new TextStream(this.tokenizer.createDecoder(), sampling.stop);
    const slot = new RequestSlot(id, id, options.priority ?? 0, tokens, sampling, text, this.clock.now(), this.lifecycles, timeoutMs);
    slot.isDetached = options.detached ?? false;
    slot.outputs = new RequestOutputs(
      slot,
      () => {
        if (!slot.isDetached) this.endings.end(slot, 'abort');
      },
      () => this.output.syncText(slot),
    );
    slot.onDeadline = () => this.endings.end(slot, 'timeout');
    if (sampling.responseFormat) this.addWhenCompiled(slot, sampling.responseFormat);
    else this.table.add(slot);
    this.counters.submitted++;
    this.planner.stall.noteProgress();
    this.emitState(slot);
    this.loop.wake();
    return createHandle(slot, slot.outputs, () => this.endings.end(slot, 'abort'));
  }

  /** A constrained request joins the queue once its grammar is compiled (at once when cached); a format that cannot compile fails it. */
  private addWhenCompiled(slot: RequestSlot, format: ResponseFormat): void {
    this.numCompiling++;
    const settle = (): void => {
      this.numCompiling--;
      this.notifyIfIdle();
    };
    this.constrained.attach(slot, format).then(
      () => {
        if (!slot.isFinal) {
          this.table.add(slot);
          this.loop.wake();
        }
        settle();
      },
      (error: unknown) => {
        this.endings.fail([slot], error instanceof NanoServingError ? error : wrapNativeError(error));
        this.endings.release();
        settle();
      },
    );
  }

  stats(): EngineStats {
    return buildStats(this.counters, this.kv, this.executor.info.numPages, this.table.numRunning, this.table.numWaiting);
  }

  /** Resolves when no request is waiting or running. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting; drains in-flight requests (drain: true) or aborts them; then frees the executor. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (!options.drain) for (const slot of [...this.table.all()]) this.endings.end(slot, 'abort');
    await this.whenIdle();
    while (this.isStepInFlight) await new Promise((resolve) => setImmediate(resolve));
    this.loop.stop();
    this.kv.cache?.clear();
    this.executor.close();
    this.events.complete();
  }

  checkIntegrity(): void {
    this.kv.checkIntegrity();
  }

  /** Who holds which page, counted from the holders (for checkPageConservation). */
  pageCensus(): PageCensus {
    const tables: number[][] = [];
    for (const slot of this.table.all()) tables.push(slot.pages);
    return this.kv.census(tables);
  }

  /** The read-only view the policy decides from: frozen queue snapshots and pure queries. */
  view(): SchedulerView {
    return this.planner.view();
  }

  // ---- one step: schedule -> run -> postprocess ---------------------------------------

  /** Runs one step by hand (with manualSteps); false when there was nothing to do. */
  step(): Promise<boolean> {
    if (this.isStepInFlight) return Promise.reject(new NanoServingError('ERR_BUSY', 'a step is already in flight'));
    return this.runStep();
  }

  /** One step; false when there was nothing to do. A step that throws fails the requests it concerned, never the engine. */
  private async runStep(): Promise<boolean> {
    try {
      return await this.stepOnce();
    } catch (error) {
      this.isStepInFlight = false;
      const message = error instanceof Error ? error.message : String(error);
      this.endings.fail([...this.table.all()], new NanoServingError('ERR_INTERNAL', `a step failed: ${message}`, { cause: error }));
      if (this.events.observed) this.events.next({ type: 'engine.error', error });
      return true;
    }
  }

  private async stepOnce(): Promise<boolean> {
    const plan = this.planner.decide(this.wasLastStepIdle); // schedule (checked)
    if (plan === 'idle') {
      this.notifyIfIdle();
      return false;
    }
    if (plan === 'refused') return true;
    const { batch, refused } = this.applier.apply(plan); // preempt, admit, grow pages
    for (const { slot, error } of refused) this.endings.fail([slot], error);
    if (batch.runs.length === 0) this.wasLastStepIdle = true;
    else {
      const started = this.clock.now();
      const output = await this.run(batch); // the forward pass
      if (output) {
        this.planner.observeStep(batch.runs, this.clock.now() - started, this.executor.decodesAhead);
        this.postprocess(batch, output, started); // tokens out, stop checks, endings
      }
    }
    this.endings.release(); // pages of ended requests back
    return true;
  }

  /** The forward pass; undefined when it failed (its requests fail, the engine goes on). */
  private async run(batch: Batch): Promise<StepOutput | undefined> {
    this.isStepInFlight = true;
    try {
      const input = this.buffers.fill(batch.runs, batch.slots);
      const numTokens = input.tokens.length;
      const started = performance.now();
      const output = await this.constrained.step(this.executor, input, batch.runs, this.syncSteps.isSync(numTokens));
      this.syncSteps.noteStep(numTokens, performance.now() - started);
      this.buffers.accepted(); // only now does the executor keep the step's sequences
      return output;
    } catch (error) {
      this.buffers.refused();
      this.endings.fail(batch.slots, wrapNativeError(error));
      return undefined;
    } finally {
      this.isStepInFlight = false;
    }
  }

  private postprocess(batch: Batch, output: StepOutput, started: number): void {
    const now = this.clock.now();
    this.counters.steps++;
    this.counters.stepTimeMs += now - started;
    try {
      this.wasLastStepIdle = !this.postprocessor.apply(batch, output, now);
      if (!this.wasLastStepIdle) this.planner.stall.noteProgress();
    } catch (error) {
      this.endings.fail(batch.slots, new NanoServingError('ERR_INTERNAL', `applying a step's output failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
    }
    if (this.events.observed) this.events.next(stepEvent(batch.runs, this.clock.now() - started, this.table.numRunning, this.table.numWaiting));
  }

  private isIdle(): boolean {
    return this.table.isEmpty && this.numCompiling === 0;
  }

  notifyIfIdle(): void {
    if (!this.isIdle() || this.isStepInFlight) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  emitState(slot: RequestSlot): void {
    if (this.events.observed) this.events.next({ type: 'request.state', id: slot.id, state: slot.lifecycle });
  }
}
