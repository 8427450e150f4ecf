/** nano-serving: an LLM serving runtime for Node.js. */
export { NanoServingEngine } from './engine/engine.js';
export type { EngineOptions } from './engine/options.js';
export { EngineCore, type CoreOptions, type SubmitOptions, type SchedulingPolicy } from './engine/core.js';
export type { RequestHandle, RequestResult, RequestMetrics } from './engine/handle.js';
export type { SamplingParams } from './engine/sampling.js';
export type { EngineStats, Percentiles } from './engine/stats.js';
export type { EngineEvent } from './engine/events.js';
export { ByteTokenizer, type Tokenizer, type TokenDecoder } from './engine/tokenizer.js';
export type { FinishReason, RequestPhase } from '../machines/request.js';
export { requestMachine } from '../machines/request.js';
export * from './errors.js';
export type { Executor, ExecutorInfo, StepInput, StepOutput } from './executor/step.js';
export { NativeExecutor } from './executor/native.js';
export { SimulatedExecutor } from './executor/simulated.js';
export type { ModelConfig, Tensor, TensorMap } from './models/config.js';
export { PRESETS, presetConfig } from './models/presets.js';
export { syntheticTensors } from './models/synthetic.js';
export { schedule } from './scheduler/policy.js';
