/**
 * config.json -> ModelConfig: both layouts read alike, every RoPE type's tables equal the
 * ones transformers 5.17 built for the fixtures (its rotary module's inv_freq buffers and
 * attention_scaling, recorded by tools/hf-fixtures/make.py), and whatever would change the
 * math without being understood is refused by name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { toModelConfig } from '../../src/models/hf-config.js';

const root = join(import.meta.dirname, 'fixtures', 'hf', 'models');
const read = (name: string, file: string): Record<string, unknown> => JSON.parse(readFileSync(join(root, name, file), 'utf8'));

/** Relative distance of two float32 tables. */
function maxRelative(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
}

describe('rotary tables equal transformers 5.17 (inv_freq and attention_scaling of the fixtures)', () => {
  for (const name of readdirSync(root).sort()) {
    // Keys as model.rotary_emb.* (Gemma 3 image-text: model.language_model.rotary_emb.*).
    const recorded = read(name, 'expected.json').rotary as Record<string, number[] | number>;
    const rotary = Object.fromEntries(Object.entries(recorded).map(([k, v]) => [k.replace('model.language_model.', 'model.'), v]));
    if (Object.keys(rotary).length === 0) continue; // GPT-2: learned positions
    it(name, () => {
      const config = toModelConfig(read(name, 'config.json'), 'config.json');
      const perType = 'model.rotary_emb.full_attention_inv_freq' in rotary;
      const tables = perType
        ? [['sliding_attention', config.ropes![0]], ['full_attention', config.ropes![1]]] as const
        : [['', config.ropes?.[0]]] as const;
      for (const [kind, spec] of tables) {
        const prefix = `model.rotary_emb.${kind ? kind + '_' : ''}`;
        const invFreq = rotary[`${prefix}inv_freq`] as number[];
        // Plain tables stay on the executor's own path (config.ropes absent): nothing to compare but theta.
        if (!spec) {
          expect(invFreq[1]).toBeCloseTo(Math.pow(config.ropeTheta, -2 / config.headDim), 6);
          continue;
        }
        expect(maxRelative(spec.invFreq, invFreq), `${name} ${kind} inv_freq`).toBeLessThan(2e-7);
        expect(spec.attentionFactor, `${name} ${kind} attention factor`).toBeCloseTo(rotary[`${prefix}attention_scaling`] as number, 12);
      }
    });
  }

  it('dynamic NTK and LongRoPE switch tables past the original context (the tables after a 600-token prompt)', () => {
    const dynamic = toModelConfig(read('llama-v5-dynamic', 'config.json'), 'config.json').ropes![0];
    expect(dynamic.dynamic).toEqual({ base: 10000, factor: 4 });
    expect(dynamic.originalContext).toBe(256);
    const longrope = toModelConfig(read('phi3-v5-longrope', 'config.json'), 'config.json').ropes![0];
    const after = read('phi3-v5-longrope', 'expected.json').rotary_after_long_prompt as Record<string, number[]>;
    expect(maxRelative(longrope.longInvFreq!, after['model.rotary_emb.inv_freq'])).toBeLessThan(2e-7);
    expect(longrope.originalContext).toBe(256);
  });
});

describe('both layouts read alike', () => {
  const pairs = [['llama-v4-theta5e5-gqa', 'llama-v5-theta5e5-gqa'], ['llama-v4-dynamic', 'llama-v5-dynamic'], ['gemma2-v4', 'gemma2-v5'], ['gemma3-v4', 'gemma3-v5']];
  for (const [v4, v5] of pairs) {
    it(`${v4} = ${v5}`, () => {
      expect(toModelConfig(read(v4, 'config.json'), 'a')).toEqual(toModelConfig(read(v5, 'config.json'), 'a'));
    });
  }

  it('windows per layer: Gemma 2 alternates from layer 0, Qwen2 from max_window_layers, Mistral everywhere', () => {
    expect(toModelConfig(read('gemma2-v4', 'config.json'), 'a').layerWindow).toEqual([48, 0]);
    expect(toModelConfig(read('qwen2-v5-window', 'config.json'), 'a').layerWindow).toEqual([0, 40]);
    expect(toModelConfig(read('mistral-v5-window', 'config.json'), 'a').layerWindow).toEqual([48, 48]);
    expect(toModelConfig(read('mistral-v4', 'config.json'), 'a').layerWindow).toBeUndefined();
  });
});

describe('what is not understood is refused by name', () => {
  const base = read('llama-v5-theta5e5-gqa', 'config.json');
  const refuses = (patch: Record<string, unknown>, field: RegExp): void => {
    const attempt = (): unknown => toModelConfig({ ...base, ...patch }, 'config.json');
    expect(attempt).toThrow(ModelLoadError);
    expect(attempt).toThrow(field);
  };

  it('an unknown rope type, in either layout', () => {
    refuses({ rope_parameters: { rope_type: 'su', rope_theta: 1e4 } }, /rope_parameters\.rope_type "su" is not supported/);
    refuses({ rope_parameters: undefined, rope_theta: 1e4, rope_scaling: { type: 'ntk-by-parts', factor: 2 } }, /rope_scaling\.rope_type "ntk-by-parts"/);
  });

  it('a field the rope type does not know', () => {
    refuses({ rope_parameters: { rope_type: 'linear', rope_theta: 1e4, factor: 2, beta_fast: 4 } }, /rope_parameters\.beta_fast is not supported for rope_type linear/);
    refuses({ rope_parameters: { rope_type: 'llama3', rope_theta: 1e4, factor: 8 } }, /rope_parameters\.low_freq_factor must be a positive number/);
  });

  it('fields that change the math', () => {
    refuses({ attention_bias: true }, /attention_bias true is not supported/);
    refuses({ mlp_bias: true }, /mlp_bias/);
    refuses({ logits_scaling: 4 }, /logits_scaling/);
    refuses({ num_local_experts: 8 }, /num_local_experts/);
    refuses({ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/);
    refuses({ attn_logit_softcapping: 50 }, /attn_logit_softcapping is not supported for LlamaForCausalLM/);
    refuses({ layer_types: ['full_attention', 'chunked_attention'] }, /layer_types\[1\] "chunked_attention"/);
    refuses({ layer_types: ['sliding_attention', 'full_attention'] }, /sliding_window must be a positive integer/);
    refuses({ architectures: ['MixtralForCausalLM'] }, /unknown architecture "MixtralForCausalLM"/);
    refuses({ quantization_config: { quant_method: 'gptq', bits: 4 } }, /quantization_config \("gptq"\) is not supported/);
  });

  it('GPT-2 options that change the math', () => {
    const gpt2 = read('gpt2-f32', 'config.json');
    expect(() => toModelConfig({ ...gpt2, activation_function: 'relu' }, 'c')).toThrow(/activation_function "relu"/);
    expect(() => toModelConfig({ ...gpt2, scale_attn_by_inverse_layer_idx: true }, 'c')).toThrow(/scale_attn_by_inverse_layer_idx/);
  });
});

describe('export', () => {
  it('refuses a config with features its formats do not carry', async () => {
    const { exportModel } = await import('../../src/models/export.js');
    const config = toModelConfig(read('gemma2-v5', 'config.json'), 'config.json');
    expect(() => exportModel({ config, format: 'safetensors', outDir: '/nonexistent' })).toThrow(/layerWindow, attnScale, attnSoftcap, finalSoftcap, embedScale, postNorms, ffnAct/);
  });
});
