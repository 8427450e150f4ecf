import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import { LifecycleRunner, RequestLifecycle } from '../../machines/lifecycle.js';
import { phaseOf, requestMachine, untimedRequestMachine, type RequestEvent } from '../../machines/request.js';

const admit: RequestEvent = { type: 'sched.admit' };
const prefilled: RequestEvent = { type: 'sched.prefilled' };
const release: RequestEvent = { type: 'sched.release' };
const finish: RequestEvent = { type: 'sched.finish', reason: 'length' };

/** Every event sequence of length <= 4 over these events (and the deadline's own event). */
const EVENTS: RequestEvent[] = [admit, prefilled, { type: 'sched.preempt' }, finish, { type: 'client.abort' }, { type: 'sched.fail', error: 'x' }, release];
function* sequences(length: number): Generator<RequestEvent[]> {
  if (length === 0) {
    yield [];
    return;
  }
  for (const head of sequences(length - 1)) for (const event of EVENTS) yield [...head, event];
}

describe('LifecycleRunner: request machines evaluated without an actor each', () => {
  it('reaches the same snapshot as an XState actor on every event sequence (with and without a deadline)', () => {
    const clock = new SimulatedClock();
    const runner = new LifecycleRunner(clock);
    for (let length = 0; length <= 4; length++) {
      for (const events of sequences(length)) {
        for (const timeoutMs of [undefined, 50]) {
          const actor = createActor(requestMachine, { input: { timeoutMs }, clock }).start();
          const lifecycle = new RequestLifecycle(runner, { timeoutMs });
          for (const event of events) {
            if (actor.getSnapshot().status === 'active') actor.send(event); // a stopped actor only warns
            lifecycle.send(event);
          }
          const [want, got] = [actor.getSnapshot(), lifecycle.snapshot];
          expect({ value: got.value, status: got.status, context: got.context }).toEqual({ value: want.value, status: want.status, context: want.context });
          actor.stop();
        }
      }
    }
  });

  it('the untimed machine takes the same transitions as the machine (pure transitions)', () => {
    for (const events of sequences(4)) {
      let [a] = initialTransition(requestMachine, {});
      let [b] = initialTransition(untimedRequestMachine, {});
      for (const event of events) {
        [a] = transition(requestMachine, a, event);
        [b] = transition(untimedRequestMachine, b, event);
      }
      expect([b.value, b.context]).toEqual([a.value, a.context]);
    }
  });

  it('runs the deadline as a timer on the injected clock: fires from any live phase, across preemption, once', () => {
    const clock = new SimulatedClock();
    const lifecycle = new RequestLifecycle(new LifecycleRunner(clock), { timeoutMs: 100 });
    const phases: string[] = [];
    let emitted = 0;
    lifecycle.onChange = (s) => phases.push(phaseOf(s));
    lifecycle.onEmit = (e) => {
      expect(e.type).toBe('request.deadline');
      emitted++;
    };
    lifecycle.send(admit);
    clock.increment(60);
    lifecycle.send({ type: 'sched.preempt' });
    lifecycle.send(admit);
    clock.increment(39);
    expect(emitted).toBe(0);
    clock.increment(1);
    expect(emitted).toBe(1);
    expect(phaseOf(lifecycle.snapshot)).toBe('releasing');
    expect(lifecycle.snapshot.context.finishReason).toBe('timeout');
    clock.increment(1000);
    expect(emitted).toBe(1);
    lifecycle.send(release);
    expect(lifecycle.snapshot.value).toBe('finished');
    expect(phases).toEqual(['prefilling', 'waiting', 'prefilling', 'releasing', 'finished']);
  });

  it('cancels the deadline when the request ends first; no timer at all without a deadline', () => {
    const clock = new SimulatedClock();
    const runner = new LifecycleRunner(clock);
    const ended = new RequestLifecycle(runner, { timeoutMs: 10 });
    let emitted = 0;
    ended.onEmit = () => emitted++;
    ended.send(admit);
    ended.send(prefilled);
    ended.send(finish);
    clock.increment(20);
    expect(emitted).toBe(0);
    expect(ended.snapshot.context.finishReason).toBe('length');
    const armed: number[] = [];
    const cleared: unknown[] = [];
    const counting = { setTimeout: (_fn: () => void, ms: number) => armed.push(ms), clearTimeout: (handle: unknown) => void cleared.push(handle) };
    new RequestLifecycle(new LifecycleRunner(counting), {}).send(admit);
    const timed = new RequestLifecycle(new LifecycleRunner(counting), { timeoutMs: 7 });
    expect(armed).toEqual([7]);
    timed.send({ type: 'client.abort' });
    expect(cleared).toEqual([1]); // the handle setTimeout returned: the timer does not outlive the request
  });

  it('remembers each transition: requests with the same history share snapshots, each still gets its own timers and errors', () => {
    const armed: number[] = [];
    const runner = new LifecycleRunner({ setTimeout: (_fn: () => void, ms: number) => armed.push(ms), clearTimeout: () => undefined });
    const [a, b] = [new RequestLifecycle(runner, { timeoutMs: 9 }), new RequestLifecycle(runner, { timeoutMs: 9 })];
    expect(armed).toEqual([9, 9]); // the remembered start still arms a deadline per request
    expect(b.snapshot).toBe(a.snapshot);
    for (const event of [admit, prefilled, finish]) {
      a.send(event);
      b.send(event);
      expect(b.snapshot).toBe(a.snapshot);
    }
    const [c, d] = [new RequestLifecycle(runner, {}), new RequestLifecycle(runner, {})];
    c.send({ type: 'sched.finish', reason: 'stop' }); // not taken while waiting
    expect(c.snapshot).toBe(d.snapshot);
    c.send({ type: 'sched.fail', error: 'first' });
    d.send({ type: 'sched.fail', error: 'second' });
    expect([c.snapshot.context.error, d.snapshot.context.error]).toEqual(['first', 'second']);
    const [e, f] = [new RequestLifecycle(runner, {}), new RequestLifecycle(runner, {})];
    for (const l of [e, f]) l.send(admit), l.send(prefilled);
    e.send({ type: 'sched.finish', reason: 'stop' });
    f.send({ type: 'sched.finish', reason: 'length' });
    expect([e.snapshot.context.finishReason, f.snapshot.context.finishReason]).toEqual(['stop', 'length']);
  });

  it('a listener may send to another machine from inside a transition (re-entrant evaluation keeps each one its actions)', () => {
    const clock = new SimulatedClock();
    const runner = new LifecycleRunner(clock);
    const first = new RequestLifecycle(runner, { timeoutMs: 30 });
    const second = new RequestLifecycle(runner, { timeoutMs: 30 });
    first.onChange = (s) => {
      if (phaseOf(s) === 'prefilling') second.send({ type: 'client.abort' });
    };
    let secondDeadlines = 0;
    second.onEmit = () => secondDeadlines++;
    let firstDeadlines = 0;
    first.onEmit = () => firstDeadlines++;
    first.send(admit);
    expect(phaseOf(second.snapshot)).toBe('releasing');
    clock.increment(30);
    expect([firstDeadlines, secondDeadlines]).toEqual([1, 0]);
  });
});
