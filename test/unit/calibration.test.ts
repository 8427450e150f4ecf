/** Latency calibration files: loaded into the model they describe, refused field by field when malformed. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CALIBRATION_FORMAT, CalibrationError, latencyModelFromCalibration, linearLatency, parseCalibration, readCalibration, type LatencyCalibration } from '../../src/testing/index.js';

const coefficients = { fixedMs: 0.4, perTokenMs: 0.02, perSeqMs: 0.003, perContextMs: 1e-5, perKvReadMs: 2e-4, perSampledMs: 0.05, wakeMs: 1.5 };
const shape = { vocabSize: 32000, hiddenSize: 288, numLayers: 6, numHeads: 6, numKvHeads: 6, headDim: 48, intermediateSize: 768 };
const entry = { model: 'small', shape, weightDtype: 'f32', kernel: 'avx2', threads: 2, coefficients, numSamples: 40, fitError: { median: 0.03, p90: 0.08 } };
const calibration: LatencyCalibration = {
  format: CALIBRATION_FORMAT,
  version: 1,
  date: '2026-12-02T05:00:00.000Z',
  cpu: { model: 'AMD EPYC', cores: 2, isa: ['avx2', 'fma', 'f16c'] },
  entries: [entry, { ...entry, weightDtype: 'bf16', coefficients: { ...coefficients, perTokenMs: 0.03 } }],
};
const step = { numTokens: 100, numSeqs: 10, numAttended: 5000, numKvRead: 900, numSampled: 9, afterIdle: 1 };

function file(body: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'calibration-')), 'latency.json');
  writeFileSync(path, body);
  return path;
}

function refusal(fn: () => unknown): CalibrationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CalibrationError);
    expect((error as CalibrationError).code).toBe('ERR_CALIBRATION');
    return error as CalibrationError;
  }
  throw new Error('expected a CalibrationError');
}

describe('latencyModelFromCalibration', () => {
  it('gives the linear model of the selected entry, from a file or a parsed object', () => {
    const path = file(JSON.stringify(calibration));
    const fromFile = latencyModelFromCalibration(path, { model: 'small', weightDtype: 'f32' });
    expect(fromFile(step)).toBeCloseTo(linearLatency(coefficients)(step), 12);
    const bf16 = latencyModelFromCalibration(calibration, { weightDtype: 'bf16' });
    expect(bf16(step)).toBeCloseTo(linearLatency({ ...coefficients, perTokenMs: 0.03 })(step), 12);
    expect(latencyModelFromCalibration(calibration, { shape: { hiddenSize: 288 }, weightDtype: 'f32', threads: 2 })(step)).toBe(fromFile(step));
    expect(readCalibration(path)).toEqual(calibration);
  });

  it('refuses a selector that matches no entry or several, listing the entries', () => {
    expect(refusal(() => latencyModelFromCalibration(calibration, { model: 'medium' })).message).toMatch(/no entry matches.*small\/f32\/2 threads/);
    expect(refusal(() => latencyModelFromCalibration(calibration)).message).toMatch(/2 entries match/);
    expect(refusal(() => latencyModelFromCalibration(calibration, { model: 'small', threads: 4 })).field).toBe('selector');
  });
});

describe('a malformed calibration is a CalibrationError naming the field', () => {
  const broken = (patch: (c: any) => void): unknown => {
    const c = structuredClone(calibration) as any;
    patch(c);
    return c;
  };
  it.each([
    ['calibration', null],
    ['calibration.format', broken((c) => (c.format = 'something-else'))],
    ['calibration.version', broken((c) => (c.version = 2))],
    ['calibration.cpu', broken((c) => delete c.cpu)],
    ['calibration.cpu.isa', broken((c) => (c.cpu.isa = 'avx2'))],
    ['calibration.entries', broken((c) => (c.entries = []))],
    ['calibration.entries[0].coefficients.perTokenMs', broken((c) => (c.entries[0].coefficients.perTokenMs = -0.1))],
    ['calibration.entries[1].coefficients.wakeMs', broken((c) => delete c.entries[1].coefficients.wakeMs)],
    ['calibration.entries[0].shape.headDim', broken((c) => (c.entries[0].shape.headDim = 47.5))],
    ['calibration.entries[0].threads', broken((c) => (c.entries[0].threads = '2'))],
    ['calibration.entries[0].fitError', broken((c) => delete c.entries[0].fitError)],
  ])('%s', (field, value) => {
    expect(refusal(() => parseCalibration(value)).field).toBe(field);
  });

  it('a file that is missing or not JSON', () => {
    expect(refusal(() => latencyModelFromCalibration('/nonexistent/latency.json')).message).toMatch(/cannot read/);
    expect(refusal(() => latencyModelFromCalibration(file('{"format": '))).message).toMatch(/not JSON/);
  });
});
