/**
 * Latency calibration files: the executor latency model's coefficients per model shape,
 * fitted by `npm run bench:calibrate` (also part of `npm run bench:kernel`) to steps timed
 * on the native executor, with the CPU they were timed on. `latencyModelFromCalibration`
 * loads one for runTimedWorkload; a malformed file is a CalibrationError naming the field.
 */
import { readFileSync } from 'node:fs';
import { NanoServingError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { LATENCY_TERMS, linearLatency, type LatencyModel, type LinearLatency } from './latency.js';

export const CALIBRATION_FORMAT = 'nano-serving-latency-calibration';

/** The dimensions of a model that set a step's cost. */
export type ModelShape = Pick<ModelConfig, 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'intermediateSize'>;

export interface CalibrationEntry {
  /** Preset or model name the steps were timed on. */
  model: string;
  shape: ModelShape;
  weightDtype: string;
  /** Kernel path the executor ran ('avx2', 'avx512', 'portable'). */
  kernel: string;
  threads: number;
  coefficients: LinearLatency;
  /** Steps the fit used, and its median and p90 relative error on them. */
  numSamples: number;
  fitError: { median: number; p90: number };
}

export interface LatencyCalibration {
  format: typeof CALIBRATION_FORMAT;
  version: 1;
  date: string;
  cpu: { model: string; cores: number; isa: string[] };
  entries: CalibrationEntry[];
}

/** A calibration file that cannot be used: unreadable, not JSON, a field missing or wrong, or no entry matching. */
export class CalibrationError extends NanoServingError {
  constructor(message: string, readonly field?: string) {
    super('ERR_CALIBRATION', message);
    this.name = 'CalibrationError';
  }
}

/** Which entry to use; every field given must match. Without any, the file must hold exactly one entry. */
export interface CalibrationSelector {
  model?: string;
  shape?: Partial<ModelShape>;
  weightDtype?: string;
  threads?: number;
}

const SHAPE_KEYS: ReadonlyArray<keyof ModelShape> = ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'intermediateSize'];

type Json = Record<string, unknown>;

function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CalibrationError(`${field}: expected an object`, field);
  return value as Json;
}

function text(o: Json, key: string, field: string): string {
  if (typeof o[key] !== 'string') throw new CalibrationError(`${field}.${key}: expected a string`, `${field}.${key}`);
  return o[key] as string;
}

function number(o: Json, key: string, field: string, check: (v: number) => boolean = Number.isFinite, what = 'a finite number'): number {
  const v = o[key];
  if (typeof v !== 'number' || !check(v)) throw new CalibrationError(`${field}.${key}: expected ${what}, got ${JSON.stringify(v)}`, `${field}.${key}`);
  return v;
}

const nonNegative = (v: number): boolean => Number.isFinite(v) && v >= 0;
const positiveInteger = (v: number): boolean => Number.isInteger(v) && v > 0;

function parseEntry(value: unknown, field: string): CalibrationEntry {
  const o = object(value, field);
  const shapeObject = object(o.shape, `${field}.shape`);
  const coefficientObject = object(o.coefficients, `${field}.coefficients`);
  const errorObject = object(o.fitError, `${field}.fitError`);
  const shape = Object.fromEntries(SHAPE_KEYS.map((k) => [k, number(shapeObject, k, `${field}.shape`, positiveInteger, 'a positive integer')])) as unknown as ModelShape;
  const coefficients = Object.fromEntries(LATENCY_TERMS.map((k) => [k, number(coefficientObject, k, `${field}.coefficients`, nonNegative, 'a number >= 0')])) as unknown as LinearLatency;
  return {
    model: text(o, 'model', field),
    shape,
    weightDtype: text(o, 'weightDtype', field),
    kernel: text(o, 'kernel', field),
    threads: number(o, 'threads', field, positiveInteger, 'a positive integer'),
    coefficients,
    numSamples: number(o, 'numSamples', field, positiveInteger, 'a positive integer'),
    fitError: { median: number(errorObject, 'median', `${field}.fitError`, nonNegative, 'a number >= 0'), p90: number(errorObject, 'p90', `${field}.fitError`, nonNegative, 'a number >= 0') },
  };
}

/** Checks a parsed calibration (e.g. JSON.parse of a file) field by field. */
export function parseCalibration(value: unknown): LatencyCalibration {
  const o = object(value, 'calibration');
  if (o.format !== CALIBRATION_FORMAT) throw new CalibrationError(`calibration.format: expected '${CALIBRATION_FORMAT}', got ${JSON.stringify(o.format)}`, 'calibration.format');
  if (o.version !== 1) throw new CalibrationError(`calibration.version: expected 1, got ${JSON.stringify(o.version)}`, 'calibration.version');
  const cpu = object(o.cpu, 'calibration.cpu');
  if (!Array.isArray(cpu.isa) || !cpu.isa.every((s) => typeof s === 'string')) throw new CalibrationError('calibration.cpu.isa: expected a list of strings', 'calibration.cpu.isa');
  if (!Array.isArray(o.entries) || o.entries.length === 0) throw new CalibrationError('calibration.entries: expected a non-empty list', 'calibration.entries');
  return {
    format: CALIBRATION_FORMAT,
    version: 1,
    date: text(o, 'date', 'calibration'),
    cpu: { model: text(cpu, 'model', 'calibration.cpu'), cores: number(cpu, 'cores', 'calibration.cpu', positiveInteger, 'a positive integer'), isa: cpu.isa as string[] },
    entries: o.entries.map((e, i) => parseEntry(e, `calibration.entries[${i}]`)),
  };
}

/** Reads and checks a calibration file. */
export function readCalibration(file: string): LatencyCalibration {
  let body: string;
  try {
    body = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CalibrationError(`${file}: cannot read (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new CalibrationError(`${file}: not JSON (${(error as Error).message})`);
  }
  return parseCalibration(json);
}

function matches(entry: CalibrationEntry, s: CalibrationSelector): boolean {
  if (s.model !== undefined && entry.model !== s.model) return false;
  if (s.weightDtype !== undefined && entry.weightDtype !== s.weightDtype) return false;
  if (s.threads !== undefined && entry.threads !== s.threads) return false;
  return SHAPE_KEYS.every((k) => s.shape?.[k] === undefined || s.shape[k] === entry.shape[k]);
}

/** The one entry the selector picks; a CalibrationError listing the entries when none or several match. */
export function selectCalibration(calibration: LatencyCalibration, selector: CalibrationSelector = {}): CalibrationEntry {
  const found = calibration.entries.filter((e) => matches(e, selector));
  if (found.length === 1) return found[0];
  const listed = calibration.entries.map((e) => `${e.model}/${e.weightDtype}/${e.threads} threads`).join(', ');
  const why = found.length === 0 ? 'no entry matches' : `${found.length} entries match (narrow it: model, weightDtype, threads)`;
  throw new CalibrationError(`calibration: ${why} ${JSON.stringify(selector)}; entries: ${listed}`, 'selector');
}

/** The latency model of one entry of a calibration (a file path or a parsed calibration). */
export function latencyModelFromCalibration(calibration: string | LatencyCalibration, selector: CalibrationSelector = {}): LatencyModel {
  const parsed = typeof calibration === 'string' ? readCalibration(calibration) : parseCalibration(calibration);
  return linearLatency(selectCalibration(parsed, selector).coefficients);
}
