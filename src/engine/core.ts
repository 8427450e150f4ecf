/**
 * The engine loop: submit -> waiting -> schedule(view) -> apply the plan (preempt, admit,
 * grow page tables) -> executor.step -> apply the results (append tokens, stream them,
 * stop checks, lifecycle events) -> finished (pages to the cache or the free list).
 * The only file that touches scheduler, pages, actors, streams and the executor together.
 */
import { Subject, type Observable } from 'rxjs';
import { CapacityError, EngineClosedError, NanoServingError, wrapNativeError } from '../errors.js';
import type { Executor, StepOutput } from '../executor/step.js';
import type { FinishReason } from '../../machines/request.js';
import { createTickLoop, type TickLoop } from '../../streams/tick.js';
import { schedule } from '../scheduler/policy.js';
import { pagesFor, type PlannedRun, type SchedulerConfig, type SchedulerView, type StepPlan } from '../scheduler/view.js';
import { createHandle, RequestOutputs, resultOf, type RequestHandle } from './handle.js';
import { KvPages } from './kv-pages.js';
import { RequestSlot } from './request-slot.js';
import type { SamplingParams } from './sampling.js';
import { buildStepInput } from './step-input.js';
import { buildStats, StatsCounters, type EngineStats } from './stats.js';
import { validateRequest, validateTimeout } from './intake.js';
import { logprobOf, stopReason } from './results.js';
import { TextStream } from './text-stream.js';
import type { Tokenizer } from './tokenizer.js';
import { stepEvent, type EngineEvent } from './events.js';
import { ConstrainedDecoding } from '../grammar/constrained-decoding.js';

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
  /** The scheduling policy; the built-in one by default. Swap it to property-test your own. */
  policy?: SchedulingPolicy;
  /** Called with each plan before it is applied (tests and the invariant checkers use it). */
  onPlan?: (view: SchedulerView, plan: StepPlan) => void;
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
  private readonly counters = new StatsCounters();
  private readonly events = new Subject<EngineEvent>();
  private readonly waiting: RequestSlot[] = [];
  /** Every request not yet released, by id. */
  private readonly slotsById = new Map<number, RequestSlot>();
  private running: RequestSlot[] = [];
  private readonly loop: TickLoop;
  private nextId = 1;
  private stepIndex = 0;
  private isStepInFlight = false;
  private numCompiling = 0;
  private isClosed = false;
  private idleWaiters: Array<() => void> = [];
  /** Grammar states of requests with a responseFormat (XGrammar loads on first use). */
  readonly constrained: ConstrainedDecoding;

  constructor(readonly executor: Executor, readonly tokenizer: Tokenizer, readonly options: CoreOptions) {
    const { numPages, pageSize } = executor.info;
    this.kv = new KvPages(numPages, pageSize, options.prefixCache, options.maxCachedPages);
    this.constrained = new ConstrainedDecoding(tokenizer, executor.info.vocabSize);
    this.loop = createTickLoop(() => this.runStep(), (error) => this.events.next({ type: 'engine.error', error }));
  }

  get events$(): Observable<EngineEvent> {
    return this.events.asObservable();
  }

  submit(prompt: string | ArrayLike<number>, params: SamplingParams = {}, options: SubmitOptions = {}): RequestHandle {
    if (this.isClosed) throw new EngineClosedError();
    const id = this.nextId++;
    const { tokens, sampling } = validateRequest(prompt, params, id, this.tokenizer, this.executor.info, this.options);
    const timeoutMs = validateTimeout(options.timeoutMs ?? this.options.requestTimeoutMs);
    if (this.waiting.length >= this.options.maxWaiting) throw new CapacityError(`queue is full (${this.options.maxWaiting} waiting)`, 'ERR_QUEUE_FULL');
    const text = new TextStream(this.tokenizer.createDecoder(), sampling.stop);
    const slot = new RequestSlot(id, id, options.priority ?? 0, tokens, sampling, text, performance.now());
    slot.isDetached = options.detached ?? false;
    slot.outputs = new RequestOutputs(
      slot,
      () => {
        if (!slot.isDetached) this.end(slot, 'abort');
      },
      () => this.syncText(slot),
    );
    if (timeoutMs !== undefined) slot.timer = setTimeout(() => this.end(slot, 'timeout'), timeoutMs).unref();
    this.slotsById.set(id, slot);
    this.counters.submitted++;
    this.emitState(slot);
    if (sampling.responseFormat) this.enqueueConstrained(slot, sampling.responseFormat);
    else this.enqueue(slot);
    this.loop.wake();
    return createHandle(slot, slot.outputs, () => this.end(slot, 'abort'));
  }

  stats(): EngineStats {
    return buildStats(this.counters, this.kv, this.executor.info.numPages, this.running.length, this.waiting.length);
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
    if (!options.drain) for (const slot of [...this.waiting, ...this.running]) this.end(slot, 'abort');
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

  // ---- input -------------------------------------------------------------------------

  private enqueue(slot: RequestSlot): void {
    let at = this.waiting.length;
    while (at > 0 && this.waiting[at - 1].priority < slot.priority && this.waiting[at - 1].numComputed === 0 && this.waiting[at - 1].numOutput === 0) at--;
    this.waiting.splice(at, 0, slot);
  }

  /** A constrained request waits outside the queue until its grammar is compiled (at once when cached). */
  private enqueueConstrained(slot: RequestSlot, format: NonNullable<RequestSlot['sampling']['responseFormat']>): void {
    this.numCompiling++;
    this.constrained.attach(slot.id, format).then(
      () => {
        this.numCompiling--;
        if (slot.isFinal) return this.forget(slot);
        this.enqueue(slot);
        this.loop.wake();
      },
      (error: unknown) => {
        this.numCompiling--;
        if (!slot.isFinal) this.failStep([slot], error instanceof NanoServingError ? error : wrapNativeError(error));
        this.forget(slot);
      },
    );
  }

  /** Drops a request that ended before it reached a queue. */
  private forget(slot: RequestSlot): void {
    this.constrained.release(slot.id);
    slot.needsRelease = false;
    this.slotsById.delete(slot.id);
    this.notifyIfIdle();
  }

  // ---- one step ------------------------------------------------------------------------

  private async runStep(): Promise<boolean> {
    const view = this.view();
    const plan = (this.options.policy ?? schedule)(view, this.options);
    this.options.onPlan?.(view, plan);
    if (plan.runs.length === 0 && plan.preempt.length === 0) {
      this.notifyIfIdle();
      return false;
    }
    this.stepIndex++;
    for (const id of plan.preempt) this.preempt(this.find(this.running, id));
    for (const id of plan.admit) this.admit(this.find(this.waiting, id));
    const { runs, slots } = this.prepareRuns(plan.runs);
    if (runs.length === 0) return true;
    const started = performance.now();
    let output: StepOutput;
    this.isStepInFlight = true;
    try {
      const masks = await this.constrained.masks(runs);
      output = await this.executor.step(masks ? { ...buildStepInput(runs, slots), ...masks } : buildStepInput(runs, slots));
    } catch (error) {
      this.failStep(slots, wrapNativeError(error));
      return true;
    } finally {
      this.isStepInFlight = false;
    }
    this.counters.steps++;
    this.counters.stepTimeMs += performance.now() - started;
    this.applyOutput(runs, slots, output);
    this.releaseEnded();
    if (this.events.observed) this.events.next(stepEvent(runs, performance.now() - started, this.running.length, this.waiting.length));
    return true;
  }

  private view(): SchedulerView {
    return {
      waiting: this.waiting,
      running: this.running,
      numFreePages: this.kv.numFree,
      numEvictablePages: this.kv.numEvictable,
      pageSize: this.kv.pageSize,
      stepIndex: this.stepIndex,
      cachedPrefix: (request) => this.kv.peekPrefix(request as RequestSlot),
      reclaimablePages: (request) => this.kv.reclaimable(request as RequestSlot),
    };
  }

  private find(list: RequestSlot[], id: number): RequestSlot {
    const slot = this.slotsById.get(id);
    if (!slot || (list === this.running) !== this.isRunning(slot)) throw new NanoServingError('ERR_INTERNAL', `scheduler planned request ${id}, which is not in the expected queue`);
    return slot;
  }

  private admit(slot: RequestSlot): void {
    this.waiting.splice(this.waiting.indexOf(slot), 1);
    const isFirstAdmission = slot.actor.getSnapshot().context.numPreemptions === 0;
    slot.numComputed = this.kv.adoptPrefix(slot, slot.numTokens - 1);
    if (isFirstAdmission) {
      slot.numCachedPrompt = slot.numComputed;
      this.counters.cachedTokens += slot.numComputed;
      this.counters.promptTokens += slot.numPrompt;
    }
    this.running.push(slot);
    slot.send({ type: 'sched.admit' });
    this.emitState(slot);
  }

  private preempt(slot: RequestSlot): void {
    this.kv.publish(slot);
    this.kv.releaseAll(slot);
    slot.numComputed = 0;
    this.running.splice(this.running.indexOf(slot), 1);
    let at = 0;
    while (at < this.waiting.length && this.waiting[at].numOutput > 0 && this.waiting[at].arrival < slot.arrival) at++;
    this.waiting.splice(at, 0, slot);
    this.counters.preemptions++;
    slot.send({ type: 'sched.preempt' });
    this.emitState(slot);
  }

  /** Re-bases each run on where its request really is and grows page tables; a run whose pages cannot be had is preempted. */
  private prepareRuns(planned: readonly PlannedRun[]): { runs: PlannedRun[]; slots: RequestSlot[] } {
    const runs: PlannedRun[] = [];
    const slots: RequestSlot[] = [];
    for (const run of planned) {
      const slot = this.find(this.running, run.id);
      const end = run.start + run.numTokens;
      const start = slot.numComputed;
      if (start >= end) continue;
      try {
        this.kv.grow(slot, pagesFor(end, this.kv.pageSize) - slot.pages.length);
      } catch (error) {
        if (!(error instanceof CapacityError)) throw error;
        this.preempt(slot);
        continue;
      }
      const isSampled = end === slot.numTokens;
      runs.push(start === run.start && isSampled === run.isSampled ? run : { ...run, start, numTokens: end - start, isSampled });
      slots.push(slot);
    }
    return { runs, slots };
  }

  // ---- results -------------------------------------------------------------------------

  private applyOutput(runs: readonly PlannedRun[], slots: readonly RequestSlot[], output: StepOutput): void {
    const now = performance.now();
    let row = 0;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i];
      const slot = slots[i];
      const sampledRow = run.isSampled ? row++ : -1;
      if (slot.isFinal) continue; // aborted or timed out while the step ran
      slot.numComputed = run.start + run.numTokens;
      if (run.kind === 'prefill') this.counters.prefillTokens += run.numTokens;
      else this.counters.decodeTokens += run.numTokens;
      if (run.kind === 'prefill') this.kv.publish(slot); // decode pages are published at finish or preemption
      if (sampledRow < 0) continue;
      if (slot.phase === 'prefilling') {
        slot.send({ type: 'sched.prefilled' });
        this.emitState(slot);
      }
      this.acceptToken(slot, output, sampledRow, now);
    }
  }

  private acceptToken(slot: RequestSlot, output: StepOutput, row: number, now: number): void {
    const token = output.tokens[row];
    slot.append(token);
    this.counters.generatedTokens++;
    if (slot.firstTokenAt === 0) this.counters.ttft.add(now - slot.submittedAt);
    else this.counters.itl.add(now - slot.lastTokenAt);
    if (slot.firstTokenAt === 0) slot.firstTokenAt = now;
    slot.lastTokenAt = now;
    if (slot.sampling.logprobs !== undefined) slot.logprobs.push(logprobOf(output, row, token, slot.sampling.logprobs));
    slot.outputs.tokens.push(token);
    if (slot.isFinal) return; // a subscriber aborted on this very token
    // Text is decoded as tokens come only when someone reads it or a stop string needs it; else at the end.
    if (slot.sampling.stop.length > 0 || slot.outputs.text.wasSubscribed) this.syncText(slot);
    if (slot.isFinal) return;
    const grammar = this.constrained.accept(slot.id, token);
    if (grammar === 'rejected') return this.failStep([slot], new NanoServingError('ERR_INTERNAL', `request ${slot.id}: token ${token} is outside its grammar`));
    const reason = grammar === 'end' ? 'stop' : stopReason(slot, token, this.tokenizer.eosTokenIds, this.executor.info.contextLength);
    if (reason) this.end(slot, reason);
  }

  /** Feeds the output tokens not yet decoded to the request's text stream. */
  private syncText(slot: RequestSlot): void {
    while (slot.numTextTokens < slot.numOutput && !slot.text.isStopped) {
      this.pushText(slot, slot.text.push(slot.outputToken(slot.numTextTokens++)));
    }
  }

  private pushText(slot: RequestSlot, piece: string): void {
    if (piece.length === 0) return;
    slot.textPieces.push(piece);
    slot.outputs.text.push(piece);
  }

  // ---- endings -------------------------------------------------------------------------

  /** Ends a request for any reason; its pages are released now, or right after the step in flight. */
  private end(slot: RequestSlot, reason: FinishReason): void {
    if (slot.isFinal) return;
    if (reason === 'abort') slot.send({ type: 'client.abort' });
    else if (reason === 'timeout') slot.send({ type: 'sched.timeout' });
    else slot.send({ type: 'sched.finish', reason });
    if (reason === 'abort') this.counters.aborted++;
    else if (reason === 'timeout') this.counters.timedOut++;
    else this.counters.finished++;
    this.syncText(slot);
    this.pushText(slot, slot.text.finish());
    this.settle(slot);
    slot.outputs.resolve(resultOf(slot, reason, performance.now()));
    slot.outputs.tokens.complete();
    slot.outputs.text.complete();
  }

  private failStep(slots: readonly RequestSlot[], error: NanoServingError): void {
    for (const slot of slots) {
      if (slot.isFinal) continue;
      slot.send({ type: 'sched.fail', error });
      this.counters.failed++;
      this.settle(slot);
      slot.outputs.reject(error);
      slot.outputs.tokens.error(error);
      slot.outputs.text.error(error);
    }
    this.releaseEnded();
  }

  private settle(slot: RequestSlot): void {
    if (slot.timer) clearTimeout(slot.timer);
    this.constrained.release(slot.id);
    slot.needsRelease = true;
    this.emitState(slot);
    if (!this.isStepInFlight) this.releaseEnded();
  }

  /** Releases the pages of ended requests and drops them from the queues (never during a step). */
  private releaseEnded(): void {
    for (const list of [this.waiting, this.running]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const slot = list[i];
        if (!slot.needsRelease) continue;
        if (slot.lifecycle === 'finished') this.kv.publish(slot);
        this.kv.releaseAll(slot);
        slot.needsRelease = false;
        list.splice(i, 1);
        this.slotsById.delete(slot.id);
      }
    }
    this.notifyIfIdle();
  }

  private isRunning(slot: RequestSlot): boolean {
    const phase = slot.phase;
    return phase === 'prefilling' || phase === 'decoding';
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0 && this.numCompiling === 0;
  }

  private notifyIfIdle(): void {
    if (!this.isIdle() || this.isStepInFlight) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private emitState(slot: RequestSlot): void {
    if (this.events.observed) this.events.next({ type: 'request.state', id: slot.id, state: slot.lifecycle });
  }
}
