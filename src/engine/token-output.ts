/**
 * A step's results for each request: the sampled token is appended, streamed, its
 * logprobs kept, its text decoded when someone reads it (or a stop string needs it),
 * and the stop rules decide whether the request ends.
 */
import type { FinishReason } from '../../machines/request.js';
import type { StepOutput } from '../executor/step.js';
import type { RequestSlot } from './request-slot.js';
import { logprobOf, stopReason } from './results.js';
import type { StatsCounters } from './stats.js';

export class TokenOutput {
  constructor(
    private readonly counters: StatsCounters,
    private readonly eosTokenIds: readonly number[],
    private readonly contextLength: number,
    private readonly end: (slot: RequestSlot, reason: FinishReason) => void,
  ) {}

  /** `now` is the step's end (one clock read per step, not per token). */
  accept(slot: RequestSlot, output: StepOutput, row: number, now: number): void {
    const token = output.tokens[row];
    slot.append(token);
    this.counters.generatedTokens++;
    if (slot.firstTokenAt === 0) {
      this.counters.ttft.add(now - slot.submittedAt);
      slot.firstTokenAt = now;
    } else {
      this.counters.itl.add(now - slot.lastTokenAt);
    }
    slot.lastTokenAt = now;
    if (slot.sampling.logprobs !== undefined) slot.logprobs.push(logprobOf(output, row, token, slot.sampling.logprobs));
    slot.outputs.tokens.push(token);
    if (slot.isFinal) return; // a subscriber aborted on this very token
    if (slot.sampling.hasStopStrings || slot.outputs.text.wasSubscribed) this.syncText(slot);
    if (slot.isFinal) return;
    const reason = stopReason(slot, token, this.eosTokenIds, this.contextLength);
    if (reason) this.end(slot, reason);
  }

  /** Feeds the output tokens not yet decoded to the request's text stream. */
  syncText(slot: RequestSlot): void {
    while (slot.numTextTokens < slot.numOutput && !slot.text.isStopped) {
      this.pushText(slot, slot.text.push(slot.outputToken(slot.numTextTokens++)));
    }
  }

  /** At the end: everything decoded (the tokens no one read yet in one call), and the decoder's held-back bytes flushed. */
  finishText(slot: RequestSlot): void {
    if (slot.numTextTokens < slot.numOutput && !slot.text.isStopped) {
      const rest = slot.outputTokens.subarray(slot.numTextTokens);
      slot.numTextTokens = slot.numOutput;
      this.pushText(slot, slot.text.pushAll(rest));
    }
    this.pushText(slot, slot.text.finish());
  }

  private pushText(slot: RequestSlot, piece: string): void {
    if (piece.length === 0) return;
    slot.textPieces.push(piece);
    slot.outputs.text.push(piece);
  }
}
