import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import { phaseOf, requestMachine, type RequestEvent } from '../../machines/request.js';

function run(events: RequestEvent[], input: { timeoutMs?: number } = {}) {
  let [snapshot] = initialTransition(requestMachine, input);
  for (const event of events) [snapshot] = transition(requestMachine, snapshot, event);
  return snapshot;
}

const admit: RequestEvent = { type: 'sched.admit' };
const prefilled: RequestEvent = { type: 'sched.prefilled' };
const release: RequestEvent = { type: 'sched.release' };

describe('request lifecycle machine (pure transitions)', () => {
  it('walks waiting -> prefilling -> decoding -> releasing -> finished', () => {
    expect(phaseOf(run([]))).toBe('waiting');
    expect(phaseOf(run([admit]))).toBe('prefilling');
    expect(phaseOf(run([admit, prefilled]))).toBe('decoding');
    const ended = run([admit, prefilled, { type: 'sched.finish', reason: 'length' }]);
    expect(phaseOf(ended)).toBe('releasing');
    expect(ended.status).toBe('active');
    const done = run([admit, prefilled, { type: 'sched.finish', reason: 'length' }, release]);
    expect(done.value).toBe('finished');
    expect(done.status).toBe('done');
    expect(done.context.finishReason).toBe('length');
  });

  it('preemption returns to waiting from prefilling or decoding and is counted, as are admissions', () => {
    const s = run([admit, { type: 'sched.preempt' }, admit, prefilled, { type: 'sched.preempt' }]);
    expect(phaseOf(s)).toBe('waiting');
    expect(s.context.numPreemptions).toBe(2);
    expect(s.context.numAdmissions).toBe(2);
  });

  it('abort and failure end the request from any live state, through releasing', () => {
    for (const prefix of [[], [admit], [admit, prefilled]] as RequestEvent[][]) {
      expect(phaseOf(run([...prefix, { type: 'client.abort' }]))).toBe('releasing');
      const aborted = run([...prefix, { type: 'client.abort' }, release]);
      expect(aborted.value).toBe('aborted');
      expect(aborted.context.finishReason).toBe('abort');
      const failed = run([...prefix, { type: 'sched.fail', error: 'boom' }, release]);
      expect(failed.value).toBe('failed');
      expect(failed.context.error).toBe('boom');
    }
  });

  it('a releasing request ignores every event but sched.release; final states ignore everything', () => {
    const releasing = run([{ type: 'client.abort' }, admit, { type: 'sched.fail', error: 1 }, { type: 'sched.finish', reason: 'stop' }]);
    expect(phaseOf(releasing)).toBe('releasing');
    expect(releasing.context.outcome).toBe('aborted');
    const s = run([{ type: 'sched.fail', error: 1 }, release, admit, prefilled, { type: 'client.abort' }, release]);
    expect(s.status).toBe('done');
    expect(s.value).toBe('failed');
  });

  it('out-of-order scheduler events are ignored (no decode before prefill, no finish while waiting)', () => {
    expect(phaseOf(run([prefilled]))).toBe('waiting');
    expect(phaseOf(run([{ type: 'sched.finish', reason: 'stop' }]))).toBe('waiting');
    expect(phaseOf(run([admit, { type: 'sched.finish', reason: 'stop' }]))).toBe('prefilling');
    expect(phaseOf(run([release]))).toBe('waiting');
  });
});

describe('request deadline (a machine timer on an injected clock)', () => {
  it('fires on the virtual clock from any live phase, emits request.deadline, keeps across preemption', () => {
    const clock = new SimulatedClock();
    const actor = createActor(requestMachine, { input: { timeoutMs: 100 }, clock }).start();
    let fired = 0;
    actor.on('request.deadline', () => fired++);
    actor.send(admit);
    clock.increment(60);
    actor.send({ type: 'sched.preempt' });
    actor.send(admit);
    expect(phaseOf(actor.getSnapshot())).toBe('prefilling');
    clock.increment(39);
    expect(fired).toBe(0);
    clock.increment(1);
    expect(fired).toBe(1);
    expect(phaseOf(actor.getSnapshot())).toBe('releasing');
    expect(actor.getSnapshot().context.finishReason).toBe('timeout');
    actor.send(release);
    expect(actor.getSnapshot().value).toBe('finished');
  });

  it('no deadline without timeoutMs; a request that ended first never times out', () => {
    const clock = new SimulatedClock();
    const free = createActor(requestMachine, { input: {}, clock }).start();
    clock.increment(2 ** 31);
    expect(phaseOf(free.getSnapshot())).toBe('waiting');
    const ended = createActor(requestMachine, { input: { timeoutMs: 10 }, clock }).start();
    let fired = 0;
    ended.on('request.deadline', () => fired++);
    ended.send({ type: 'client.abort' });
    clock.increment(20);
    expect(fired).toBe(0);
    expect(ended.getSnapshot().context.finishReason).toBe('abort');
  });
});
