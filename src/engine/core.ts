/**
 * The engine loop. One step:
 *   plan = decide(view)          the policy's plan, checked (src/scheduler: pure)
 *   batch = applier.apply(plan)  preempt, admit, grow pages, exactly as planned
 *   output = executor.step(...)  the forward pass (native or simulated)
 *   postprocess(batch, output)   tokens out, stop checks, endings; then release pages
 * The only file that touches scheduler, pages, actors, streams and the executor together.
 */
import { Subject, type Observable } from 'rxjs';
import { CapacityError, EngineClosedError, NanoServingError, SchedulerError, wrapNativeError } from '../errors.js';
import type { Executor, StepOutput } from '../executor/step.js';
import { createTickLoop, type TickLoop } from '../../streams/tick.js';
import { checkPlanShape, type LocateRequest } from '../scheduler/plan-check.js';
import { schedule } from '../scheduler/policy.js';
import type { RequestView, SchedulerConfig, SchedulerView, StepPlan } from '../scheduler/view.js';
import { realClock, type EngineClock } from './clock.js';
import { Endings } from './endings.js';
import { stepEvent, type EngineEvent } from './events.js';
import { createHandle, RequestOutputs, type RequestHandle } from './handle.js';
import { validateRequest, validateTimeout } from './intake.js';
import { KvPages } from './kv-pages.js';
import type { PageCensus } from '../pages/census.js';
import { PlanApplier, type Batch } from './plan-apply.js';
import { RequestSlot } from './request-slot.js';
import { RequestTable } from './request-table.js';
import type { SamplingParams } from './sampling.js';
import { StallDetector } from './stall.js';
import { buildStats, StatsCounters, type EngineStats } from './stats.js';
import { StepBuffers } from './step-input.js';
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
}

export type SchedulingPolicy = (view: SchedulerView, config: SchedulerConfig) => StepPlan;

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
  readonly output: TokenOutput;
  private readonly endings: Endings;
  private readonly applier: PlanApplier;
  private readonly stall = new StallDetector();
  private readonly buffers: StepBuffers;
  private readonly events = new Subject<EngineEvent>();
  private readonly loop: TickLoop;
  private nextId = 1;
  private stepIndex = 0;
  private wasLastStepIdle = false;
  isStepInFlight = false;
  private isClosed = false;
  private idleWaiters: Array<() => void> = [];
  /** Grammar states of requests with a responseFormat (XGrammar loads on first use). */
  readonly constrained: ConstrainedDecoding;
  private numCompiling = 0;

  constructor(readonly executor: Executor, readonly tokenizer: Tokenizer, readonly options: CoreOptions) {
    const { numPages, pageSize } = executor.info;
    this.clock = options.clock ?? realClock;
    this.kv = new KvPages(numPages, pageSize, options.prefixCache, options.maxCachedPages);
    this.output = new TokenOutput(this.counters, tokenizer.eosTokenIds, executor.info.contextLength, (slot, reason) => this.endings.end(slot, reason));
    this.endings = new Endings(this);
    this.applier = new PlanApplier(this.kv, this.table, this.counters, (slot) => this.emitState(slot));
    this.buffers = new StepBuffers(executor.info);
    this.constrained = new ConstrainedDecoding(tokenizer, executor.info.vocabSize);
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
    const slot = new RequestSlot(id, id, options.priority ?? 0, tokens, sampling, text, this.clock.now(), this.clock, timeoutMs);
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
    this.stall.noteProgress();
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
    return Object.freeze<SchedulerView>({
      waiting: this.table.waiting.snapshot(),
      running: this.table.runningSnapshot(),
      numFreePages: this.kv.numFree,
      numEvictablePages: this.kv.numEvictable,
      pageSize: this.kv.pageSize,
      stepIndex: this.stepIndex,
      cachedPrefix: (request) => this.kv.peekPrefix(request as RequestSlot),
      reclaimablePages: (request) => this.kv.reclaimable(request as RequestSlot),
      sharesPage: this.kv.cache ? this.sharesPage : undefined,
    });
  }

  // ---- one step ------------------------------------------------------------------------

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
    const plan = this.decide();
    if (plan === 'idle') {
      this.notifyIfIdle();
      return false;
    }
    if (plan === 'refused') return true;
    this.stepIndex++;
    const { batch, refused } = this.applier.apply(plan);
    for (const { slot, error } of refused) this.endings.fail([slot], error);
    this.stall.noteChurn(plan.admit);
    this.stall.noteChurn(plan.preempt);
    if (batch.runs.length > 0) await this.execute(batch);
    else this.wasLastStepIdle = true;
    this.endings.release();
    return true;
  }

  /** The policy's plan, checked; 'idle' when nothing is queued, 'refused' when the plan failed requests. */
  private decide(): StepPlan | 'idle' | 'refused' {
    if (this.table.isEmpty) return 'idle';
    const view = this.view();
    if (this.wasLastStepIdle) {
      const cycle = this.stall.checkRepeat(this.stepIndex, view.running, view.waiting);
      if (cycle !== undefined) return this.failStall(`the scheduling policy is cycling: the same admit/preempt state repeated after ${cycle} steps without a generated token`, this.stall.churnedIds);
    }
    let plan: StepPlan;
    try {
      plan = (this.options.policy ?? schedule)(view, this.options);
      this.options.onPlan?.(view, plan);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.endings.fail([...this.table.all()], new SchedulerError('ERR_POLICY', `the scheduling policy (or the onPlan hook) threw: ${message}`, { cause: error }));
      return 'refused';
    }
    const problems = checkPlanShape(view, plan, this.limits(), this.locate);
    if (problems.length > 0) {
      const named = new Set(problems.map((p) => p.id));
      const concerned = named.has(undefined) ? [...this.table.all()] : [...named].map((id) => this.table.get(id!)).filter((s) => s !== undefined);
      for (const slot of concerned) this.endings.fail([slot], new SchedulerError('ERR_PLAN', `invalid plan: ${problems.map((p) => p.message).join('; ')}`));
      return 'refused';
    }
    if (plan.runs.length === 0 && plan.preempt.length === 0) {
      return this.failStall('the scheduling policy planned nothing while requests were queued', [...this.table.all()].map((s) => s.id));
    }
    return plan;
  }

  private failStall(message: string, ids: readonly number[]): 'refused' {
    const slots = ids.map((id) => this.table.get(id)).filter((s) => s !== undefined);
    const targets = slots.length > 0 ? slots : [...this.table.all()];
    for (const slot of targets) {
      this.endings.fail([slot], new SchedulerError('ERR_STALL', `request ${slot.id} starved: ${message} (step ${this.stepIndex}, ${slot.lifecycle})`));
    }
    this.stall.noteProgress();
    return 'refused';
  }

  private readonly sharesPage = (a: RequestView, b: RequestView, start: number): boolean => (a as RequestSlot).sharesTokens(b as RequestSlot, start, this.kv.pageSize);

  /** Finds a live request by id for the plan check, from its actor's phase (O(1)). */
  private readonly locate: LocateRequest = (id) => {
    const slot = this.table.get(id);
    return slot === undefined || slot.isFinal ? undefined : slot;
  };

  private limits(): { maxBatchTokens: number; maxSeqs: number } {
    const info = this.executor.info;
    return { maxBatchTokens: Math.min(info.maxBatchTokens, this.options.maxBatchTokens), maxSeqs: Math.min(info.maxSeqs, this.options.maxRunning) };
  }

  private async execute(batch: Batch): Promise<void> {
    const started = this.clock.now();
    let output: StepOutput;
    this.isStepInFlight = true;
    try {
      const input = this.buffers.fill(batch.runs, batch.slots);
      output = await this.constrained.step(this.executor, input, batch.runs);
    } catch (error) {
      this.isStepInFlight = false;
      this.endings.fail(batch.slots, wrapNativeError(error));
      return;
    }
    this.isStepInFlight = false;
    this.counters.steps++;
    this.counters.stepTimeMs += this.clock.now() - started;
    try {
      this.postprocess(batch, output);
    } catch (error) {
      this.endings.fail(batch.slots, new NanoServingError('ERR_INTERNAL', `applying a step's output failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
    }
    if (this.events.observed) this.events.next(stepEvent(batch.runs, this.clock.now() - started, this.table.numRunning, this.table.numWaiting));
  }

  private postprocess(batch: Batch, output: StepOutput): void {
    const before = this.counters.generatedTokens;
    const now = this.clock.now();
    let row = 0;
    for (let i = 0; i < batch.runs.length; i++) {
      const run = batch.runs[i];
      const slot = batch.slots[i];
      const sampledRow = run.isSampled ? row++ : -1;
      if (slot.isFinal) continue; // aborted or timed out while the step ran
      slot.numComputed = run.start + run.numTokens;
      if (run.kind === 'prefill') {
        this.counters.prefillTokens += run.numTokens;
        this.kv.publish(slot); // decode pages are published at finish or preemption
      } else {
        this.counters.decodeTokens += run.numTokens;
      }
      if (sampledRow < 0) continue;
      if (slot.lifecycle === 'prefilling') {
        slot.send({ type: 'sched.prefilled' });
        this.emitState(slot);
      }
      this.output.accept(slot, output, sampledRow, now);
      if (!slot.isFinal) this.acceptGrammar(slot, output.tokens[sampledRow]);
    }
    this.wasLastStepIdle = this.counters.generatedTokens === before;
    if (!this.wasLastStepIdle) this.stall.noteProgress();
  }

  /** A constrained request ends with 'stop' once its grammar is complete. */
  private acceptGrammar(slot: RequestSlot, token: number): void {
    const outcome = this.constrained.accept(slot.id, token);
    if (outcome === 'end') this.endings.end(slot, 'stop');
    else if (outcome === 'rejected') this.endings.fail([slot], new NanoServingError('ERR_INTERNAL', `request ${slot.id}: token ${token} is outside its grammar`));
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
