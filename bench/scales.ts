/**
 * Workload sizes per model, scaled to a 2-core machine: big enough for steady-state
 * batches, small enough that llama.cpp's slower runs fit in minutes. --quick shrinks all.
 */
import type { InterferenceShape } from './interference.js';

export interface Scale {
  concurrencies: number[];
  random: { inputLen: [number, number]; outputLen: [number, number]; requests: (concurrency: number) => number };
  sharedPrefix: { numGroups: number; requestsPerGroup: number; prefixLen: number; questionLen: number; outputLen: number; /** Requests/s of the Poisson-arrival variant. */ poissonRate: number };
  prefill: { promptLen: number; numRequests: number };
  /** Also run the sequential baseline (one request at a time, the same engine) on the largest random set. */
  sequentialBaseline: boolean;
}

export const SCALES: Record<'quick' | 'small' | 'medium', Scale> = {
  quick: {
    concurrencies: [1, 8],
    random: { inputLen: [16, 64], outputLen: [8, 24], requests: (c) => Math.max(4, c) },
    sharedPrefix: { numGroups: 2, requestsPerGroup: 8, prefixLen: 64, questionLen: 16, outputLen: 8, poissonRate: 200 },
    prefill: { promptLen: 200, numRequests: 2 },
    sequentialBaseline: true,
  },
  small: {
    concurrencies: [1, 8, 32],
    random: { inputLen: [64, 256], outputLen: [24, 72], requests: (c) => (c === 1 ? 6 : Math.max(16, c)) },
    sharedPrefix: { numGroups: 4, requestsPerGroup: 8, prefixLen: 384, questionLen: 32, outputLen: 16, poissonRate: 16 },
    prefill: { promptLen: 480, numRequests: 4 },
    sequentialBaseline: true,
  },
  medium: {
    concurrencies: [1, 8, 32],
    random: { inputLen: [32, 128], outputLen: [8, 24], requests: (c) => (c === 1 ? 3 : Math.max(8, c)) },
    sharedPrefix: { numGroups: 2, requestsPerGroup: 6, prefixLen: 512, questionLen: 32, outputLen: 16, poissonRate: 4 },
    prefill: { promptLen: 480, numRequests: 2 },
    sequentialBaseline: false,
  },
};

export const INTERFERENCE: Record<'quick' | 'full', InterferenceShape & { contextLength: number }> = {
  /** Quick: small's own 512-token context, a 400-token "long" prompt. */
  quick: { numStreams: 4, streamPromptLen: 16, longPromptLen: 400, windowTokens: 16, contextLength: 512 },
  /** Full: small's shape with a 4,608-token context, a 4,000-token prompt. */
  full: { numStreams: 8, streamPromptLen: 32, longPromptLen: 4000, windowTokens: 32, contextLength: 4608 },
};

export const DEMO = {
  quick: { numRequests: 64, inputLen: [8, 32] as [number, number], outputLen: 32 },
  full: { numRequests: 256, inputLen: [32, 32] as [number, number], outputLen: 128 },
};
