/** Turns a step plan into the executor's flat typed arrays. */
import type { StepInput } from '../executor/step.js';
import type { PlannedRun } from '../scheduler/view.js';
import type { RequestSlot } from './request-slot.js';

export function buildStepInput(runs: readonly PlannedRun[], slots: readonly RequestSlot[]): StepInput {
  const numSeqs = runs.length;
  const numTokens = runs.reduce((sum, run) => sum + run.numTokens, 0);
  const numPages = slots.reduce((sum, slot) => sum + slot.pages.length, 0);
  const numHistory = slots.reduce((sum, slot) => sum + (slot.sampling.hasPenalties ? slot.numTokens : 0), 0);
  const input: StepInput = {
    tokens: new Int32Array(numTokens),
    positions: new Int32Array(numTokens),
    seqStart: new Int32Array(numSeqs + 1),
    pageTable: new Int32Array(numPages),
    pageStart: new Int32Array(numSeqs + 1),
    isSampled: new Uint8Array(numSeqs),
    temperature: new Float32Array(numSeqs),
    topK: new Int32Array(numSeqs),
    topP: new Float32Array(numSeqs),
    minP: new Float32Array(numSeqs),
    seed: new Float64Array(numSeqs),
    presencePenalty: new Float32Array(numSeqs),
    frequencyPenalty: new Float32Array(numSeqs),
    repetitionPenalty: new Float32Array(numSeqs),
    historyTokens: new Int32Array(numHistory),
    historyStart: new Int32Array(numSeqs + 1),
    historyPromptLen: new Int32Array(numSeqs),
    numTopLogprobs: new Int32Array(numSeqs),
    returnLogits: false,
  };
  let t = 0;
  let p = 0;
  let h = 0;
  for (let s = 0; s < numSeqs; s++) {
    const run = runs[s];
    const slot = slots[s];
    input.seqStart[s] = t;
    for (let i = 0; i < run.numTokens; i++) {
      input.tokens[t + i] = slot.tokenAt(run.start + i);
      input.positions[t + i] = run.start + i;
    }
    t += run.numTokens;
    input.pageStart[s] = p;
    input.pageTable.set(slot.pages, p);
    p += slot.pages.length;
    input.historyStart[s] = h;
    if (slot.sampling.hasPenalties) {
      input.historyTokens.set(slot.tokens, h);
      input.historyPromptLen[s] = slot.numPrompt;
      h += slot.numTokens;
    }
    writeSampling(input, s, run, slot);
  }
  if (slots.some((slot) => slot.sampling.logitBias.length > 0)) Object.assign(input, logitBiasInput(slots));
  input.seqStart[numSeqs] = t;
  input.pageStart[numSeqs] = p;
  input.historyStart[numSeqs] = h;
  return input;
}

function writeSampling(input: StepInput, s: number, run: PlannedRun, slot: RequestSlot): void {
  const params = slot.sampling;
  input.isSampled[s] = run.isSampled ? 1 : 0;
  input.temperature[s] = params.temperature;
  input.topK[s] = params.topK;
  input.topP[s] = params.topP;
  input.minP[s] = params.minP;
  input.seed[s] = params.seed;
  input.presencePenalty[s] = params.presencePenalty;
  input.frequencyPenalty[s] = params.frequencyPenalty;
  input.repetitionPenalty[s] = params.repetitionPenalty;
  input.numTopLogprobs[s] = params.logprobs ?? 0;
}

/** Each sequence's logit bias, concatenated (only steps with a biased request carry these arrays). */
function logitBiasInput(slots: readonly RequestSlot[]): Pick<StepInput, 'biasStart' | 'biasTokens' | 'biasValues'> {
  const total = slots.reduce((sum, slot) => sum + slot.sampling.logitBias.length, 0);
  const biasStart = new Int32Array(slots.length + 1);
  const biasTokens = new Int32Array(total);
  const biasValues = new Float32Array(total);
  let at = 0;
  slots.forEach((slot, s) => {
    biasStart[s] = at;
    for (const [token, bias] of slot.sampling.logitBias) {
      biasTokens[at] = token;
      biasValues[at++] = bias;
    }
  });
  biasStart[slots.length] = at;
  return { biasStart, biasTokens, biasValues };
}
