/** The per-sequence sampling fields of a StepInput for greedy steps with nothing else asked (no penalties, logprobs or logits). */
import type { StepInput } from '../src/executor/step.js';

export type SamplingFields = Omit<StepInput, 'tokens' | 'positions' | 'seqStart' | 'pageTable' | 'pageStart' | 'isSampled'>;

export function greedyParams(numSeqs: number): SamplingFields {
  return {
    temperature: new Float32Array(numSeqs),
    topK: new Int32Array(numSeqs),
    topP: new Float32Array(numSeqs).fill(1),
    minP: new Float32Array(numSeqs),
    seed: new Float64Array(numSeqs),
    presencePenalty: new Float32Array(numSeqs),
    frequencyPenalty: new Float32Array(numSeqs),
    repetitionPenalty: new Float32Array(numSeqs).fill(1),
    historyTokens: new Int32Array(0),
    historyStart: new Int32Array(numSeqs + 1),
    historyPromptLen: new Int32Array(numSeqs),
    numTopLogprobs: new Int32Array(numSeqs),
    returnLogits: false,
  };
}
