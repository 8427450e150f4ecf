/** checkPageConservation counts holders itself, so it catches what a total - free count never could. */
import { describe, expect, it } from 'vitest';
import { EngineCore } from '../../src/engine/core.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { checkPageConservation } from '../../src/testing/invariants.js';

function engine(): EngineCore {
  const executor = new SimulatedExecutor({ vocabSize: 64, numPages: 16, pageSize: 4 });
  return new EngineCore(executor, new ByteTokenizer(64, [0]), { maxBatchTokens: 32, maxRunning: 4, maxChunkSize: 8, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity });
}

describe('checkPageConservation', () => {
  it('passes on a consistent engine, mid-run and at idle', async () => {
    const core = engine();
    const problems: string[] = [];
    core.events$.subscribe((e) => e.type === 'step' && problems.push(...checkPageConservation(core.pageCensus())));
    await Promise.all([core.submit([1, 2, 3, 4, 5, 6, 7, 8, 9], { maxTokens: 5 }).done, core.submit([1, 2, 3, 4, 5, 6, 7, 8, 2], { maxTokens: 3 }).done]);
    expect(problems).toEqual([]);
    expect(checkPageConservation(core.pageCensus())).toEqual([]);
    await core.close();
  });

  it('fails on a leaked reference, a page held twice by one table, or a wrong free count', async () => {
    const core = engine();
    await core.submit([1, 2, 3, 4, 5, 6, 7, 8, 9], { maxTokens: 2 }).done;
    const cached = core.pageCensus().cachedPages[0];
    core.kv.allocator.retain(cached); // a reference nobody accounts for
    expect(checkPageConservation(core.pageCensus()).join()).toContain(`page ${cached}: refcount 2, but 1 holders`);
    core.kv.allocator.release([cached]);
    const census = core.pageCensus();
    expect(checkPageConservation({ ...census, requestPages: [[cached, cached]] }).join()).toContain('twice');
    expect(checkPageConservation({ ...census, numFree: census.numFree - 1 }).join()).toContain('free');
    await core.close();
  });
});
