/**
 * The "why" beside each missed target, written from the run's own numbers (step profile,
 * JS share, tokens per step, hit rates), so the explanation cannot drift from the data.
 */
import type { BenchResult } from './bench.js';

const pct = (v: number): string => (v < 0 ? 'below noise' : `${(v * 100).toFixed(0)} %`);

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
    if (m.prefill.llamaCpp && m.prefill.ours.totalTokPerS < 2 * m.prefill.llamaCpp.totalTokPerS) {
      lines.push(
        `  Prefill of one ${m.prefill.promptLen}-token prompt: ${m.prefill.ours.totalTokPerS.toFixed(0)} tok/s vs llama.cpp's ${m.prefill.llamaCpp.totalTokPerS.toFixed(0)} on ${m.prefill.llamaCpp.threads} thread(s) (f32 both). ` +
          `Prefill is GEMM-bound; our f32 GEMMs run far below the ~435 GFLOP/s the two cores offer (the step profile's matmul rate above), and llama.cpp's prefill is its strong side (ANCHORS.md). ` +
          `The bf16 weight path (--bf16) roughly doubles our prefill (bench/results/kernel.json) but is not the f32-vs-f32 comparison.`,
      );
    }
    const topShared = m.sharedPrefix[m.sharedPrefix.length - 1];
    const off = m.baselines.cacheOff;
    const rate = (x: typeof off): number => (x.engine.prefillTokens + x.engine.decodeTokens) / x.durationS;
    if (topShared.ours.totalTokPerS < 2.5 * off.totalTokPerS) {
      const slower = rate(topShared.ours) < 0.8 * rate(off);
      lines.push(
        `  Cache on vs off at ${topShared.concurrency} concurrent: ${(topShared.ours.totalTokPerS / off.totalTokPerS).toFixed(2)}x. The cache cut the tokens computed from ` +
          `${(off.engine.prefillTokens + off.engine.decodeTokens).toLocaleString('en-US')} to ${(topShared.ours.engine.prefillTokens + topShared.ours.engine.decodeTokens).toLocaleString('en-US')} ` +
          `(${rate(topShared.ours).toFixed(0)} tok/s computed with the cache, ${rate(off).toFixed(0)} without). ` +
          (slower
            ? `Those left run slower: every question token still attends over the cached prefix, and the steps hold fewer tokens (${topShared.ours.engine.tokensPerStep.toFixed(0)} vs ${off.engine.tokensPerStep.toFixed(0)}), so batches amortize the weights less. `
            : '') +
          `${slower ? 'Besides, the' : 'The main loss is the'} hit rate below optimum (next line); the decode steps, the same with and without the cache, also cap the gain.`,
      );
    }
    const short = m.sharedPrefix.filter((p) => (p.optimumHitRate - p.ours.engine.cacheHitRate) * 100 > 2);
    if (short.length) {
      const poisson = m.sharedPrefixPoisson;
      lines.push(
        `  Shared prefix, all at once: hit rate ${short.map((p) => `${pct(p.ours.engine.cacheHitRate)} at ${p.concurrency} concurrent`).join(', ')} vs the optimum ${pct(short[0].optimumHitRate)}. ` +
          `Requests of one group admitted in the same step as the group's first (or before its prefix's last chunk ran) find nothing cached: prefix pages are published only after the step that computes them, ` +
          `and the scheduler admits FCFS up to the token budget without waiting for an in-flight prefix. With Poisson arrivals (${poisson.rate} req/s) the same requests reach ${pct(poisson.ours.engine.cacheHitRate)} of ${pct(poisson.optimumHitRate)}. ` +
          `Engine change needed (scheduler, not the bench): hold back a waiting request whose prompt shares pages with a prefill in flight until those pages are published (SGLang's in-batch prefix check).`,
      );
    }
  }
  const spiky = r.interference.filter((i) => i.spikeRatio > 2);
  if (spiky.length) {
    const best = [...r.interference].sort((a, b) => a.spikeRatio - b.spikeRatio)[0];
    const parts = spiky.map((i) => `${i.label}: ${i.itlDuringMs.p99.toFixed(0)} ms p99 during vs ${i.itlBeforeMs.p50.toFixed(1)} ms p50 before, long prompt TTFT ${i.longPromptTtftMs.toFixed(0)} ms`);
    lines.push(`- **interference** (${parts.join('; ')}; best: ${best.label}, ${best.spikeRatio.toFixed(1)}x). Each step during the long prompt carries one prefill chunk beside the decodes; a smaller chunk, or a tighter maxStepCostRatio, trades the long prompt's TTFT for smoother streams.`);
    const lc = r.longContext;
    if (lc) {
      const chunk = lc.chunks.map((c) => `a ${c.chunk}-token chunk costs ${c.atStartMs.toFixed(1)} ms at the start of the prompt and ${c.atEndMs.toFixed(1)} ms at its end`).join('; ');
      const kvRead = lc.decodeLongMs - lc.decodeShortMs;
      lines.push(
        `  The floor is the attention over the long context: ${chunk}; one sequence's decode step costs ${lc.decodeShortMs.toFixed(1)} ms at context 32 and ${lc.decodeLongMs.toFixed(1)} ms at ${lc.context}, ` +
          `so merely reading the prompt's K/V once (what even a 1-token chunk at its end pays) costs ~${kvRead.toFixed(1)} ms, against the streams' whole step of ${best.itlBeforeMs.p50.toFixed(1)} ms before it arrived. ` +
          `And every step the prefill lasts, the streams' own contexts (and K/V reads) grow. A 16-bit KV (kvDtype) halves the read; the rest needs faster long-context attention (native).`,
      );
    }
  }
  if (r.demo && r.demo.ours.outputTokPerS < 100_000) {
    const p = r.demo.ours.engine.profile;
    lines.push(
      `- **tiny demo**: ${r.demo.ours.outputTokPerS.toFixed(0)} out tok/s; a step runs ${r.demo.ours.engine.tokensPerStep.toFixed(0)} tokens in ${p.nativeMs.toFixed(2)} ms native ` +
        `+ ${(p.callMs * 1000).toFixed(0)} µs JS in the call (building and validating the step's arrays) + ${(p.betweenMs * 1000).toFixed(0)} µs JS between steps ` +
        `(${pct(p.jsShare)} of step time; ${((p.betweenMs * 1000) / Math.max(1, r.demo.numRequests)).toFixed(1)} µs per sequence per step). ` +
        `100,000 tok/s at ${r.demo.numRequests} sequences means a ${((r.demo.numRequests / 100_000) * 1000).toFixed(2)} ms step in all; the raw executor alone takes ${r.demo.stepProfile.fullMs.toFixed(2)} ms for it ` +
        `(attention ${pct(r.demo.stepProfile.attentionMs / r.demo.stepProfile.fullMs)}), so both the native step and the JS per token need to shrink.`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
