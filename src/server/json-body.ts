/**
 * The server's JSON body parser (in place of Fastify's): JSON.parse, then a refusal of any
 * "__proto__" key, or "constructor" key holding an object with "prototype", at any depth
 * (prototype poisoning: code that copies such a body with plain assignment would change an
 * object's prototype). Malformed JSON is 400 invalid_json; well-formed JSON with such a key is
 * 400 forbidden_property, so a client is not told that valid JSON is invalid.
 */
import { HttpError } from './http-errors.js';

/**
 * Whether an object anywhere in `value` has an own "__proto__" key, or an own "constructor"
 * holding an object with "prototype". Iterative: a body may nest thousands deep.
 */
export function hasPrototypeKey(value: unknown): boolean {
  const has = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    if (has(node, '__proto__')) return true;
    const ctor = has(node, 'constructor') ? (node as Record<string, unknown>).constructor : undefined;
    if (ctor !== null && typeof ctor === 'object' && has(ctor, 'prototype')) return true;
    for (const child of Object.values(node)) if (child !== null && typeof child === 'object') pending.push(child);
  }
  return false;
}

export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new HttpError(400, 'invalid JSON body: the body is empty', 'invalid_request_error', 'invalid_json');
  let value: unknown;
  try {
    value = JSON.parse(text);  // JSON.parse makes "__proto__" an own key: nothing is polluted yet
  } catch (error) {
    throw new HttpError(400, `invalid JSON body: ${(error as Error).message}`, 'invalid_request_error', 'invalid_json');
  }
  if (hasPrototypeKey(value)) {
    throw new HttpError(400, 'the body has a "__proto__" key, or a "constructor" key holding "prototype", which this server refuses (prototype poisoning)', 'invalid_request_error', 'forbidden_property');
  }
  return value;
}
