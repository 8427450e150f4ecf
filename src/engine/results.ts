/** Reading a step's output for one request: why it stops, and its logprobs. */
import type { StepOutput } from '../executor/step.js';
import type { RequestSlot, TokenLogprob } from './request-slot.js';

/** The finish reason after `token` was appended, or undefined to go on. */
export function stopReason(slot: RequestSlot, token: number, eosTokenIds: readonly number[], contextLength: number): 'stop' | 'length' | undefined {
  const params = slot.sampling;
  if ((params.hasStopStrings && slot.text.isStopped) || (params.hasStopTokenIds && params.stopTokenIds.includes(token))) return 'stop'; // only a stop string stops the text
  if (!params.ignoreEos && eosTokenIds.includes(token)) return 'stop';
  if (slot.numOutput >= params.maxTokens || slot.numTokens >= contextLength) return 'length';
  return undefined;
}

export function logprobOf(output: StepOutput, row: number, token: number, numTop: number): TokenLogprob {
  const top = [];
  for (let j = 0; j < numTop && j < output.topK; j++) {
    const id = output.topIds[row * output.topK + j];
    if (id >= 0) top.push({ token: id, logprob: output.topLogprobs[row * output.topK + j] });
  }
  return { token, logprob: output.logprobs[row], top: numTop > 0 ? top : undefined };
}
