/**
 * The "why" beside each missed target, written from the run's own numbers (step profile,
 * JS share, tokens per step, hit rates), so the explanation cannot drift from the data.
 */
import type { BenchResult } from './bench.js';

const pct = (v: number): string => `${(v * 100).toFixed(0)} %`;

export function analysis(r: BenchResult, jsonFile: string): string {
  const missed = r.targets.filter((t) => !t.isMet);
  const lines = ['', `${r.targets.length - missed.length} of ${r.targets.length} targets met in this run (raw numbers: \`${jsonFile}\`).`, ''];
  if (missed.length === 0) return lines.join('\n');
  lines.push('### Where we fall short, and why', '');
  for (const m of r.models) {
    const s = m.stepProfile;
    const top = m.random[m.random.length - 1];
    const run = top.ours.engine.profile;
    lines.push(
      `- **${m.model}**: a ${s.batch}-sequence decode step at context ${s.context} takes ${s.fullMs.toFixed(1)} ms on the raw executor: ` +
        `layer GEMMs and glue ${pct(s.layersMs / s.fullMs)}, attention ${pct(s.attentionMs / s.fullMs)}, LM head + sampling ${pct(s.lmHeadAndSamplingMs / s.fullMs)} ` +
        `(${s.gemmGflops.toFixed(0)} GFLOP/s of matmul against ~435 peak f32 on 2 cores). In the engine run at ${top.concurrency} concurrent, ` +
        `JS (the call into the addon plus everything between steps) is ${pct(run.jsShare)} of step time ` +
        `(${(run.betweenMs * 1000).toFixed(0)} µs between steps, of which the scheduler ${(run.scheduleMs * 1000).toFixed(0)} µs; native ${run.nativeMs.toFixed(2)} ms), ` +
        `${top.ours.engine.tokensPerStep.toFixed(1)} tokens per step.`,
    );
    if (top.llamaCpp) {
      lines.push(
        `  llama.cpp at ${top.concurrency} concurrent: ${top.llamaCpp.outputTokPerS.toFixed(0)} out tok/s on ${top.llamaCpp.threads} thread(s) ` +
          `(ITL p50 ${top.llamaCpp.itlMs.p50.toFixed(1)} ms vs ours ${top.ours.itlMs.p50.toFixed(1)} ms).`,
      );
    }
    for (const p of m.sharedPrefix) {
      const gap = p.optimumHitRate - p.ours.engine.cacheHitRate;
      if (gap * 100 > 2) {
        lines.push(
          `  Shared prefix at ${p.concurrency} concurrent: hit rate ${pct(p.ours.engine.cacheHitRate)} vs optimum ${pct(p.optimumHitRate)}. ` +
            `Requests of one group admitted in the same step as the group's first request cannot hit: the prefix pages are published ` +
            `only after the step that computes them, and the scheduler admits FCFS without waiting for an in-flight prefix.`,
        );
      }
    }
  }
  for (const i of r.interference) {
    if (i.spikeRatio > 2) {
      lines.push(
        `- **interference, ${i.label}**: each step during the long prompt carries ${i.maxChunkSize ?? 'the whole'} prefill tokens besides the decodes, ` +
          `so a stream's ITL grows to ${i.itlDuringMs.p99.toFixed(1)} ms (p99) from ${i.itlBeforeMs.p50.toFixed(1)} ms; a smaller chunk trades the long prompt's TTFT (${i.longPromptTtftMs.toFixed(0)} ms here) for smoother streams.`,
      );
    }
  }
  if (r.demo && r.demo.ours.outputTokPerS < 100_000) {
    const p = r.demo.ours.engine.profile;
    lines.push(
      `- **tiny demo**: ${r.demo.ours.outputTokPerS.toFixed(0)} out tok/s; a step runs ${r.demo.ours.engine.tokensPerStep.toFixed(0)} tokens in ${p.nativeMs.toFixed(2)} ms native ` +
        `+ ${((p.betweenMs + p.callMs) * 1000).toFixed(0)} µs JS (${pct(p.jsShare)} of step time): at this model size the JS per token (stream, stop checks, page accounting) and the native forward are the same order.`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
