/**
 * The ggml block formats kept quantized in memory (native/src/quant_format.h has the byte
 * layouts): their GGUF type ids, block sizes, and which file types map to which dtype.
 */
import type { QuantDtype } from './config.js';

export interface QuantFormat {
  dtype: QuantDtype;
  /** ggml type id in a GGUF tensor info. */
  ggmlType: number;
  ggmlName: string;
  /** Weights per block and bytes per block. */
  blockElems: number;
  blockBytes: number;
}

export const QUANT_FORMATS: Readonly<Record<QuantDtype, QuantFormat>> = {
  q8_0: { dtype: 'q8_0', ggmlType: 8, ggmlName: 'Q8_0', blockElems: 32, blockBytes: 34 },
  q4_0: { dtype: 'q4_0', ggmlType: 2, ggmlName: 'Q4_0', blockElems: 32, blockBytes: 18 },
  q4_k: { dtype: 'q4_k', ggmlType: 12, ggmlName: 'Q4_K', blockElems: 256, blockBytes: 144 },
  q5_k: { dtype: 'q5_k', ggmlType: 13, ggmlName: 'Q5_K', blockElems: 256, blockBytes: 176 },
  q6_k: { dtype: 'q6_k', ggmlType: 14, ggmlName: 'Q6_K', blockElems: 256, blockBytes: 210 },
};

export const QUANT_DTYPES = Object.keys(QUANT_FORMATS) as QuantDtype[];

export function isQuantDtype(value: string): value is QuantDtype {
  return Object.prototype.hasOwnProperty.call(QUANT_FORMATS, value);
}

/** The dtype of a GGUF tensor type name (Q4_K -> q4_k), or undefined when it is not kept quantized. */
export function quantDtypeOfGgml(typeName: string): QuantDtype | undefined {
  return QUANT_DTYPES.find((d) => QUANT_FORMATS[d].ggmlName === typeName);
}

/** Bytes of a [rows, cols] tensor in this format (cols a multiple of the block size). */
export function quantBytes(dtype: QuantDtype, rows: number, cols: number): number {
  const f = QUANT_FORMATS[dtype];
  return rows * (cols / f.blockElems) * f.blockBytes;
}
