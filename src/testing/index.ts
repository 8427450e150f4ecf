/** The property-test harness: the simulated executor, workload arbitraries and invariant checkers. */
export { SimulatedExecutor, type SimulatedExecutorOptions } from '../executor/simulated.js';
export * from './arbitraries.js';
export * from './invariants.js';
export * from './harness.js';
export { schedule } from '../scheduler/policy.js';
export type * from '../scheduler/view.js';
