/**
 * nano-serving/testing: everything needed to test a scheduling policy without the addon:
 * the engine core and its types, the simulated executor, workload and chaos arbitraries,
 * the invariant checkers and the harness that runs a workload through the engine, virtual
 * time, and the long-prompt interference simulator (`simulateInterference`, with the step
 * cost model its `stepCost` knob takes).
 */
export { EngineCore, type CoreOptions, type SchedulingPolicy, type SubmitOptions } from '../engine/core.js';
export type { EngineEvent } from '../engine/events.js';
export type { EngineClock } from '../engine/clock.js';
export { ByteTokenizer } from '../engine/tokenizer.js';
export { SimulatedExecutor, type SimulatedExecutorOptions } from '../executor/simulated.js';
export * from './arbitraries.js';
export * from './chaos.js';
export * from './invariants.js';
export * from './harness.js';
export { schedule } from '../scheduler/policy.js';
export { checkPlanShape, type PlanLimits, type PlanProblem } from '../scheduler/plan-check.js';
export { WaitingQueue } from '../scheduler/queue.js';
export type * from '../scheduler/view.js';
export { VirtualClock } from './virtual-clock.js';
export * from './latency.js';
export * from './calibration.js';
export * from './arrivals.js';
export * from './timed.js';
export * from './interference.js';
export { stepCostFromLatency, type StepCostCoefficients, type StepCostModel } from '../scheduler/step-cost.js';
