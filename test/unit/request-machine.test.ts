import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { requestMachine, type RequestEvent } from '../../machines/request.js';

function run(events: RequestEvent[]) {
  let [snapshot] = initialTransition(requestMachine, { id: 7 });
  for (const event of events) [snapshot] = transition(requestMachine, snapshot, event);
  return snapshot;
}

describe('request lifecycle machine (pure transitions)', () => {
  it('walks waiting -> prefilling -> decoding -> finished', () => {
    expect(run([]).value).toBe('waiting');
    expect(run([{ type: 'sched.admit' }]).value).toBe('prefilling');
    expect(run([{ type: 'sched.admit' }, { type: 'sched.prefilled' }]).value).toBe('decoding');
    const done = run([{ type: 'sched.admit' }, { type: 'sched.prefilled' }, { type: 'sched.finish', reason: 'length' }]);
    expect(done.value).toBe('finished');
    expect(done.status).toBe('done');
    expect(done.context.finishReason).toBe('length');
  });

  it('preemption returns to waiting from prefilling or decoding and is counted', () => {
    const s = run([{ type: 'sched.admit' }, { type: 'sched.preempt' }, { type: 'sched.admit' }, { type: 'sched.prefilled' }, { type: 'sched.preempt' }]);
    expect(s.value).toBe('waiting');
    expect(s.context.numPreemptions).toBe(2);
  });

  it('abort, failure and timeout end the request from any live state', () => {
    for (const prefix of [[], [{ type: 'sched.admit' }], [{ type: 'sched.admit' }, { type: 'sched.prefilled' }]] as RequestEvent[][]) {
      expect(run([...prefix, { type: 'client.abort' }]).value).toBe('aborted');
      expect(run([...prefix, { type: 'client.abort' }]).context.finishReason).toBe('abort');
      const failed = run([...prefix, { type: 'sched.fail', error: 'boom' }]);
      expect(failed.value).toBe('failed');
      expect(failed.context.error).toBe('boom');
      expect(run([...prefix, { type: 'sched.timeout' }]).context.finishReason).toBe('timeout');
    }
  });

  it('final states ignore every later event', () => {
    for (const last of [{ type: 'client.abort' }, { type: 'sched.fail', error: 1 }] as RequestEvent[]) {
      const s = run([last, { type: 'sched.admit' }, { type: 'sched.prefilled' }, { type: 'client.abort' }, { type: 'sched.finish', reason: 'stop' }]);
      expect(s.status).toBe('done');
      expect(s.context.finishReason).toBe(last.type === 'client.abort' ? 'abort' : undefined);
    }
  });

  it('out-of-order scheduler events are ignored (no decode before prefill, no finish while waiting)', () => {
    expect(run([{ type: 'sched.prefilled' }]).value).toBe('waiting');
    expect(run([{ type: 'sched.finish', reason: 'stop' }]).value).toBe('waiting');
    expect(run([{ type: 'sched.admit' }, { type: 'sched.finish', reason: 'stop' }]).value).toBe('prefilling');
  });
});
