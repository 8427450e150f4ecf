/**
 * Mutations of model files for the loader fuzz: byte-level (flips, truncation, insertion,
 * zeroed runs, a rewritten length field) and structural (a JSON value deleted, replaced
 * by another type, or a string swapped for random text).
 */
import fc from 'fast-check';

export type ByteMutation =
  | { kind: 'flip'; at: number[]; xor: number[] }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'zero'; at: number; length: number }
  | { kind: 'u64'; at: number; value: bigint };

/** `at` values are fractions of the file length (so one arbitrary fits every file); u64 rewrites land on `u64Offsets`. */
export const byteMutationArb = (u64Offsets: number[]): fc.Arbitrary<ByteMutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1, maxLength: 8 }), xor: fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 8, maxLength: 8 }) })
      .map((m) => ({ ...m, at: m.at.map((f) => -f) })),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }).map((f) => -f) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }).map((f) => -f), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('zero' as const), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }).map((f) => -f), length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({
      kind: fc.constant('u64' as const),
      at: fc.constantFrom(...u64Offsets),
      value: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 4096n })),
    }),
  );

/** A negative `at` is a fraction of the length (-0.5 = the middle); a non-negative one is a byte offset. */
const offset = (at: number, length: number): number => (at <= 0 ? Math.min(length, Math.floor(-at * length)) : Math.min(length, at));

export function applyBytes(buf: Buffer, m: ByteMutation): Buffer {
  const out = Buffer.from(buf);
  switch (m.kind) {
    case 'flip':
      m.at.forEach((at, i) => {
        const p = offset(at, out.length);
        if (p < out.length) out[p] ^= m.xor[i % m.xor.length];
      });
      return out;
    case 'truncate':
      return out.subarray(0, offset(m.at, out.length));
    case 'insert': {
      const p = offset(m.at, out.length);
      return Buffer.concat([out.subarray(0, p), Buffer.from(m.bytes), out.subarray(p)]);
    }
    case 'zero': {
      const p = offset(m.at, out.length);
      out.fill(0, p, Math.min(out.length, p + m.length));
      return out;
    }
    case 'u64':
      if (m.at + 8 <= out.length) out.writeBigUInt64LE(m.value, m.at);
      return out;
  }
}

export type JsonMutation =
  | { kind: 'delete'; path: number }
  | { kind: 'replace'; path: number; value: unknown }
  | { kind: 'text'; cut: number };

export const jsonMutationArb: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), path: fc.nat() }),
  fc.record({
    kind: fc.constant('replace' as const),
    path: fc.nat(),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom<unknown>(-1, 0, 1e308, -1e308, 2 ** 31, 2 ** 53, 0.5, '', '(', '[', '\\', '(a+)+$', null, [], {}, true),
      fc.string({ maxLength: 12 }),
    ),
  }),
  fc.record({ kind: fc.constant('text' as const), cut: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }),
);

/** Every path to a value in `json` (objects and arrays), breadth first, capped. */
function paths(json: unknown, cap = 4000): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const queue: Array<[unknown, Array<string | number>]> = [[json, []]];
  while (queue.length > 0 && out.length < cap) {
    const [value, path] = queue.shift()!;
    if (path.length > 0) out.push(path);
    if (Array.isArray(value)) value.forEach((v, i) => queue.push([v, [...path, i]]));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) queue.push([v, [...path, k]]);
  }
  return out;
}

/** Applies a mutation to a JSON text; returns the new text. */
export function applyJson(text: string, m: JsonMutation): string {
  if (m.kind === 'text') return text.slice(0, Math.floor(m.cut * text.length));
  const json = JSON.parse(text) as unknown;
  const all = paths(json);
  if (all.length === 0) return m.kind === 'delete' ? '' : JSON.stringify(m.value);
  const path = all[m.path % all.length];
  let parent = json as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = m.value;
  }
  return JSON.stringify(json);
}
