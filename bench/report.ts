/** The Markdown report and the terminal summary of one bench run. */
import type { BenchResult } from './bench.js';
import { demoTable, interferenceTable, longContextTable, prefillTable, profileTable, randomTable, renderMarkdown, renderTerminal, sharedPrefixTable, type Table } from './tables.js';

function tables(r: BenchResult): Table[] {
  const out: Table[] = [];
  if (r.models.length) out.push(prefillTable(r.models));
  for (const m of r.models) out.push(randomTable(m), sharedPrefixTable(m));
  if (r.interference.length) out.push(interferenceTable(r.interference));
  if (r.longContext) out.push(longContextTable(r.longContext));
  if (r.demo) out.push(demoTable(r.demo));
  if (r.models.length || r.demo) out.push(profileTable(r.models, r.demo));
  return out;
}

function targetTable(r: BenchResult): Table {
  return { title: 'targets', header: ['target', 'wanted', 'measured', 'met'], rows: r.targets.map((t) => [t.name, t.target, t.measured, t.isMet ? 'yes' : '**no**']) };
}

export function terminalReport(r: BenchResult): string {
  return [...tables(r), targetTable(r)].map(renderTerminal).join('\n');
}

const METHOD = `
## How it is measured

- **Same weights, same numbers.** Each llama preset's seeded synthetic weights are written
  as a GGUF v3 file (\`src/models/gguf.ts\`, f32, Q/K rows permuted from the half-split to
  the adjacent-pair rotary layout) and loaded by llama.cpp through node-llama-cpp 3.21.1
  (its prebuilt CPU binary). \`test/bench/gguf.test.ts\` proves both produce the same greedy
  tokens (40 of 40). Both run f32 weights; every request is greedy with EOS ignored, so
  output lengths are exact and identical.
- **One client for both.** \`bench/drive.ts\` sends the same requests at their arrival
  times with at most *c* in flight (vLLM's max-concurrency), timestamps each token on
  arrival and computes throughput over the wall time from the first dispatch to the last
  token. TTFT is from dispatch to the first token; TPOT is (last - first) / (n - 1) per
  request; ITL pools every gap between consecutive tokens. Percentiles are nearest-rank.
- **llama.cpp, driven concurrently.** One context with \`sequences: c\` (the context size is
  per sequence); each in-flight request owns a sequence and iterates
  \`sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })\` until its length.
  node-llama-cpp merges the pending tokens of all sequences into one \`llama_decode\` per
  step. Each measurement first probes 1 and 2 threads on the workload's first c requests
  (at least 2, outputs cut to 24 tokens) and runs at the faster (2 threads often collapses on this VM:
  ANCHORS.md); the probe's tokens/s per thread count are in the tables. On shared prefixes llama.cpp gets
  llama-server's per-slot prompt reuse (free sequence with the longest common prefix,
  erase after it) since node-llama-cpp has no cross-sequence cache.
- **Our engine** runs on a fresh engine per repetition (no cache carried over), after a
  4-token warm-up request. Steps, tokens per step, prefill tokens computed, cache hits and
  preemptions come from \`engine.stats()\` differences; peak KV pages are the distinct pages
  in any one step's page tables; the naive figure is one contiguous full-context allocation
  per request of that step.
- **Workloads** (\`bench/workloads.ts\`, \`bench/scales.ts\`): random (vLLM's shape: lengths
  uniform in a range), shared prefix (SGLang's generated-shared-prefix: G system prompts x
  R questions, shuffled), long-prompt interference, the tiny demo. All at once unless noted.
  The hit-rate optimum is
  \`sum_g (R_g - 1) * min(floor(P/S), floor((L-1)/S)) * S / sum of prompt lengths\`
  (page size S, prefix length P, prompt length L): every request but its group's first
  reuses the prefix's full pages.
- Numbers are medians over the repetitions (element-wise).

## For reference: llama.cpp's own C++ tools (from /work/shared/ANCHORS.md, not this run)

llama.cpp built natively for this CPU, 2 threads, no JS in the loop (\`llama-bench\`,
\`llama-batched-bench\`), tokens/s. node-llama-cpp reaches 2-5x less on parallel
sequences, because llama.cpp splits a batch wherever sequence ids are not consecutive and
re-reads all weights for each piece; the comparison above is against node-llama-cpp,
the peer on the same stack (Node, N-API, the same prebuilt binary users get).

| shape | prefill 512 | decode, 1 sequence | 8 parallel | 32 parallel |
|---|---|---|---|---|
| small | 7,632 | 396 | 982 | 1,447 |
| medium | 970 | 63 | 276 | 481 |
`;

export function markdownReport(r: BenchResult, chartFile: string, analysis: string): string {
  const m = r.meta;
  const header = [
    '# nano-serving benchmarks',
    '',
    `- command: \`${m.command}\``,
    `- date: ${m.date}, commit ${m.gitCommit}`,
    `- machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, Node ${m.machine.node}; load average before ${m.loadAvgBefore.map((v) => v.toFixed(2)).join(' ')}, after ${m.loadAvgAfter.map((v) => v.toFixed(2)).join(' ')} (the machine is shared)`,
    `- ${m.runs} repetition(s), medians; our engine ${m.threads} threads, ${m.weightDtype} weights; llama.cpp f32 GGUF, best of 1 and ${m.threads} threads`,
    m.llamaCppNote ? `- note: ${m.llamaCppNote}` : '',
    ...(m.notes ?? []).map((note) => `- note: ${note}`),
    '',
    r.models.length ? `![throughput and ITL against concurrency](${chartFile})` : '',
    '',
  ];
  return [
    ...header,
    '## Targets',
    '',
    renderMarkdown(targetTable(r)),
    analysis,
    '## Results',
    '',
    ...tables(r).map(renderMarkdown),
    METHOD,
  ].join('\n');
}
