/**
 * Judges a chaos run: every request ended, every subscriber saw exactly the output (none
 * lost, none repeated, in order), finish reasons are explained by what happened to the
 * request, outputs agree with an oracle (or with each other for identical requests), and
 * the engine's stats agree with counts taken here.
 */
import { CHAOS_FAULT_CODE, chaosPrompt, type ChaosWorkload } from '../../src/testing/chaos.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ChaosRun, Tracked } from './chaos-runner.js';

export interface ChaosTotals {
  workloads: number;
  requests: number;
  refusedQueueFull: number;
  refusedClosed: number;
  finished: number;
  aborts: number;
  unsubscribes: number;
  failed: number;
  faultySteps: number;
  slowSteps: number;
  preemptions: number;
  evictions: number;
  timeouts: number;
  closesInFlight: number;
  tokens: number;
}

export const emptyTotals = (): ChaosTotals => ({
  workloads: 0, requests: 0, refusedQueueFull: 0, refusedClosed: 0, finished: 0, aborts: 0, unsubscribes: 0, failed: 0,
  faultySteps: 0, slowSteps: 0, preemptions: 0, evictions: 0, timeouts: 0, closesInFlight: 0, tokens: 0,
});

export function addTotals(totals: ChaosTotals, run: ChaosRun, executor: { numFailedSteps: number; numSlowSteps: number }): void {
  const { stats } = run;
  totals.workloads++;
  totals.requests += stats.requests.submitted;
  for (const t of run.tracked) {
    if (t.refusal && (t.refusal as { code?: string }).code === 'ERR_QUEUE_FULL') totals.refusedQueueFull++;
    if (t.refusal && (t.refusal as { code?: string }).code === 'ERR_ENGINE_CLOSED') totals.refusedClosed++;
    if (t.main?.isUnsubscribed) totals.unsubscribes++;
  }
  totals.finished += stats.requests.finished;
  totals.aborts += stats.requests.aborted;
  totals.failed += stats.requests.failed;
  totals.timeouts += stats.requests.timedOut;
  totals.faultySteps += executor.numFailedSteps;
  totals.slowSteps += executor.numSlowSteps;
  totals.preemptions += stats.preemptions;
  totals.evictions += stats.pages.evictions;
  totals.tokens += stats.generatedTokens;
  if (run.closedAt === 'moment') totals.closesInFlight++;
}

/** The output each distinct request would produce alone, up to its longest maxTokens: the simulator, one request at a time. */
export async function simulatedOracle(workload: ChaosWorkload): Promise<Map<number, number[]>> {
  const roots = new Map<number, number>();
  workload.requests.forEach((r) => roots.set(r.sameAs, Math.max(roots.get(r.sameAs) ?? 0, r.maxTokens)));
  const expected = new Map<number, number[]>();
  for (const [root, maxTokens] of roots) {
    const prompt = chaosPrompt(workload, root);
    const { temperature, seed } = workload.requests[root].sampling;
    const pageSize = 16;
    const total = prompt.length + maxTokens;
    const executor = new SimulatedExecutor({ vocabSize: workload.vocabSize, numPages: Math.ceil(total / pageSize), pageSize });
    const pages = Int32Array.from({ length: Math.ceil(total / pageSize) }, (_, i) => i);
    const out: number[] = [];
    let run = prompt;
    let start = 0;
    while (out.length < maxTokens) {
      const { tokens } = await executor.step(oneSequence(run, start, pages, temperature, seed));
      out.push(tokens[0]);
      start += run.length;
      run = [tokens[0]];
    }
    expected.set(root, out);
  }
  return expected;
}

function oneSequence(run: number[], start: number, pages: Int32Array, temperature: number, seed: number): StepInput {
  return {
    tokens: Int32Array.from(run),
    positions: Int32Array.from(run, (_, i) => start + i),
    seqStart: Int32Array.of(0, run.length),
    pageTable: pages,
    pageStart: Int32Array.of(0, pages.length),
    isSampled: Uint8Array.of(1),
    temperature: Float32Array.of(temperature),
    topK: Int32Array.of(0),
    topP: Float32Array.of(1),
    minP: Float32Array.of(0),
    seed: Float64Array.of(seed),
    presencePenalty: Float32Array.of(0),
    frequencyPenalty: Float32Array.of(0),
    repetitionPenalty: Float32Array.of(1),
    historyTokens: new Int32Array(0),
    historyStart: Int32Array.of(0, 0),
    historyPromptLen: Int32Array.of(0),
    numTopLogprobs: Int32Array.of(0),
    returnLogits: false,
  };
}

const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const isPrefix = (a: readonly number[], b: readonly number[]): boolean => a.length <= b.length && a.every((x, i) => x === b[i]);

/** The full output of a tracked request, as the after-the-end subscriber saw it. */
function outputOf(t: Tracked): number[] {
  return t.postMortem?.items ?? [];
}

export function checkChaosRun(run: ChaosRun, options: { eosTokenIds: readonly number[]; oracle?: Map<number, number[]> }): string[] {
  const problems = [...run.problems];
  for (const t of run.tracked) if (t.handle) problems.push(...checkRequest(run, t, options).map((p) => `request ${t.index} (#${t.handle!.id}): ${p}`));
  problems.push(...checkAgreement(run), ...checkStats(run));
  return problems;
}

function checkRequest(run: ChaosRun, t: Tracked, options: { eosTokenIds: readonly number[]; oracle?: Map<number, number[]> }): string[] {
  const problems: string[] = [];
  const fail = (message: string): void => void problems.push(message);
  const { request } = t;
  if (!t.result === !t.error) return [`settled ${t.result ? 'twice' : 'never'}`];
  const post = t.postMortem!;
  const output = outputOf(t);
  const ending = t.result ? 'complete' : 'error';
  if (!post.isSync) fail('a subscriber after the end was not ended synchronously');
  if (post.end !== ending) fail(`a subscriber after the end saw '${post.end}', the request ${ending}d`);
  if (t.result && !same(output, t.result.tokens)) fail(`replay [${output}] != result [${t.result.tokens}]`);
  if (output.length > request.maxTokens) fail(`${output.length} tokens > maxTokens ${request.maxTokens}`);

  // What each live subscriber saw.
  const main = t.main!;
  if (main.isUnsubscribed ? !isPrefix(main.items, output) : !same(main.items, output)) fail(`first subscriber saw [${main.items}], output [${output}]`);
  if (!main.isUnsubscribed && main.end !== ending) fail(`first subscriber ended '${main.end}', the request ${ending}d`);
  if (t.late && (!same(t.late.items, output) || t.late.end !== ending)) fail(`late subscriber saw [${t.late.items}] '${t.late.end}', output [${output}]`);
  if (t.text && !t.text.isUnsubscribed && t.result && t.text.items.join('') !== t.result.text) fail('text$ pieces do not make the result text');
  if (t.text && !t.text.isUnsubscribed && t.text.end !== ending) fail(`text$ ended '${t.text.end}', the request ${ending}d`);

  if (t.error !== undefined) {
    const error = t.error as { code?: string; nativeCode?: string };
    if (error.code !== 'ERR_EXECUTOR' || error.nativeCode !== CHAOS_FAULT_CODE) fail(`failed with ${String(t.error)} (${error.code}/${error.nativeCode})`);
    if (t.mustAbort) fail('failed, but was aborted while live');
  } else {
    problems.push(...checkFinish(t, options.eosTokenIds));
  }

  const expected = options.oracle?.get(request.sameAs);
  if (expected) {
    const alone = finalOf(expected, request.maxTokens, request.sampling, options.eosTokenIds);
    if (!isPrefix(output, alone.tokens)) fail(`output [${output}] is not a prefix of the output alone [${alone.tokens}]`);
    const reason = t.result?.finishReason;
    if ((reason === 'stop' || reason === 'length') && (reason !== alone.reason || !same(output, alone.tokens))) {
      fail(`finished '${reason}' with [${output}]; alone: '${alone.reason}' with [${alone.tokens}]`);
    }
  }
  return problems;
}

function checkFinish(t: Tracked, eosTokenIds: readonly number[]): string[] {
  const result = t.result!;
  const { request } = t;
  const problems: string[] = [];
  const last = result.tokens[result.tokens.length - 1];
  const isStopToken = (token: number): boolean => request.sampling.stopTokenIds.includes(token) || (!request.sampling.ignoreEos && eosTokenIds.includes(token));
  if (result.outputTokens !== result.tokens.length) problems.push(`outputTokens ${result.outputTokens} != ${result.tokens.length} tokens`);
  if (t.mustAbort && result.finishReason !== 'abort') problems.push(`aborted while live, but finished '${result.finishReason}'`);
  switch (result.finishReason) {
    case 'abort':
      if (!t.mayAbort) problems.push('finished abort, but nothing aborted it');
      break;
    case 'timeout':
      if (t.timeoutMs === undefined) problems.push('timed out without a deadline');
      else if (result.metrics.totalMs < t.timeoutMs - 1.5) problems.push(`timed out after ${result.metrics.totalMs.toFixed(1)} ms, deadline ${t.timeoutMs} ms`);
      break;
    case 'stop':
      if (!isStopToken(last)) problems.push(`finished stop on token ${last}`);
      break;
    case 'length':
      if (result.outputTokens !== request.maxTokens) problems.push(`finished length with ${result.outputTokens} of ${request.maxTokens} tokens`);
      break;
  }
  if (result.tokens.slice(0, -1).some(isStopToken)) problems.push(`generated past a stop token: [${result.tokens}]`);
  if (request.sampling.logprobs !== undefined) {
    const logprobs = result.logprobs ?? [];
    if (logprobs.length !== result.outputTokens || logprobs.some((l, i) => l.token !== result.tokens[i] || !Number.isFinite(l.logprob))) {
      problems.push('logprobs do not match the tokens');
    }
  }
  return problems;
}

/** What a request produces alone: its oracle sequence cut at maxTokens or at the first stop token. */
function finalOf(sequence: number[], maxTokens: number, sampling: { stopTokenIds: number[]; ignoreEos: boolean }, eos: readonly number[]): { tokens: number[]; reason: 'stop' | 'length' } {
  for (let i = 0; i < maxTokens; i++) {
    const token = sequence[i];
    if (sampling.stopTokenIds.includes(token) || (!sampling.ignoreEos && eos.includes(token))) return { tokens: sequence.slice(0, i + 1), reason: 'stop' };
  }
  return { tokens: sequence.slice(0, maxTokens), reason: 'length' };
}

/** Identical requests (same prompt and sampling) agree token for token, whatever else ran beside them. */
function checkAgreement(run: ChaosRun): string[] {
  const problems: string[] = [];
  const longest = new Map<number, Tracked>();
  const submitted = run.tracked.filter((t) => t.handle);
  for (const t of submitted) {
    const other = longest.get(t.request.sameAs);
    if (!other || outputOf(t).length > outputOf(other).length) longest.set(t.request.sameAs, t);
  }
  for (const t of submitted) {
    const reference = longest.get(t.request.sameAs)!;
    if (!isPrefix(outputOf(t), outputOf(reference))) {
      problems.push(`requests ${t.index} and ${reference.index} (same prompt and sampling) disagree: [${outputOf(t)}] vs [${outputOf(reference)}]`);
    }
  }
  return problems;
}

function checkStats(run: ChaosRun): string[] {
  const { stats } = run;
  const problems: string[] = [];
  const submitted = run.tracked.filter((t) => t.handle);
  const results = submitted.flatMap((t) => (t.result ? [t.result] : []));
  const count = (reason: string): number => results.filter((r) => r.finishReason === reason).length;
  const expect = (name: string, actual: number, wanted: number): void => {
    if (actual !== wanted) problems.push(`stats.${name} = ${actual}, counted ${wanted}`);
  };
  expect('requests.submitted', stats.requests.submitted, submitted.length);
  expect('requests.finished', stats.requests.finished, count('stop') + count('length'));
  expect('requests.aborted', stats.requests.aborted, count('abort'));
  expect('requests.timedOut', stats.requests.timedOut, count('timeout'));
  expect('requests.failed', stats.requests.failed, submitted.length - results.length);
  const lengths = submitted.map((t) => outputOf(t).length);
  expect('generatedTokens', stats.generatedTokens, lengths.reduce((a, b) => a + b, 0));
  expect('ttft.count', stats.ttft.count, lengths.filter((n) => n > 0).length);
  expect('itl.count', stats.itl.count, lengths.reduce((a, n) => a + Math.max(0, n - 1), 0));
  const preemptions = results.reduce((a, r) => a + r.metrics.numPreemptions, 0);
  if (results.length === submitted.length) expect('preemptions', stats.preemptions, preemptions);
  else if (stats.preemptions < preemptions) problems.push(`stats.preemptions ${stats.preemptions} < ${preemptions} counted on results`);
  if (!run.workload.engine.prefixCache) expect('cachedTokens', stats.cachedTokens, 0);
  if (stats.cachedTokens > stats.promptTokens) problems.push(`cachedTokens ${stats.cachedTokens} > promptTokens ${stats.promptTokens}`);
  return problems;
}
