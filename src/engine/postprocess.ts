/**
 * The "postprocess" part of a step: what ran is recorded (tokens computed, prefill pages
 * published), each sampled token goes to its request (streams, stop checks, grammar), and
 * requests that ended are ended. Requests that ended while the step ran are skipped.
 */
import { NanoServingError } from '../errors.js';
import type { StepOutput } from '../executor/step.js';
import type { ConstrainedDecoding } from '../grammar/constrained-decoding.js';
import type { Endings } from './endings.js';
import type { KvPages } from './kv-pages.js';
import type { Batch } from './plan-apply.js';
import type { RequestSlot } from './request-slot.js';
import type { StatsCounters } from './stats.js';
import type { TokenOutput } from './token-output.js';

export class Postprocessor {
  constructor(
    private readonly counters: StatsCounters,
    private readonly kv: KvPages,
    private readonly output: TokenOutput,
    private readonly constrained: ConstrainedDecoding,
    private readonly endings: Endings,
    private readonly emitState: (slot: RequestSlot) => void,
  ) {}

  /** Applies one step's output; true when it generated at least one token. `now` is the step's end. */
  apply(batch: Batch, output: StepOutput, now: number): boolean {
    const before = this.counters.generatedTokens;
    const { runs, slots } = batch;
    let row = 0;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i];
      const slot = slots[i];
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
      if (slot.sampling.responseFormat !== undefined && !slot.isFinal) this.acceptGrammar(slot, output.tokens[sampledRow]);
    }
    return this.counters.generatedTokens !== before;
  }

  /** A constrained request ends with 'stop' once its grammar is complete. */
  private acceptGrammar(slot: RequestSlot, token: number): void {
    const outcome = this.constrained.accept(slot.id, token);
    if (outcome === 'end') this.endings.end(slot, 'stop');
    else if (outcome === 'rejected') this.endings.fail([slot], new NanoServingError('ERR_INTERNAL', `request ${slot.id}: token ${token} is outside its grammar`));
  }
}
