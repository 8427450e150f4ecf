/** A bare HTTP client for the fuzz tests: one connection per request (agent: false), raw bodies, early disconnects. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  contentType: string;
  text: string;
}

export function send(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...length, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const postJson = (port: number, path: string, body: unknown): Promise<RawResponse> =>
  send(port, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json' });

/**
 * Posts a streaming request and hangs up after `afterEvents` SSE events (or reads it all
 * when undefined). Resolves with the events seen and whether the stream ended with [DONE].
 */
export function streamAndMaybeHangUp(port: number, path: string, body: object, afterEvents?: number): Promise<{ status: number; events: any[]; isDone: boolean; hungUp: boolean }> {
  return new Promise((resolve, reject) => {
    const events: any[] = [];
    let isDone = false;
    let buffered = '';
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-type': 'application/json' }, agent: false }, (res: IncomingMessage) => {
      const finish = (hungUp: boolean): void => resolve({ status: res.statusCode ?? 0, events, isDone, hungUp });
      if (afterEvents === 0) {
        req.destroy();
        return finish(true);
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let at: number;
        while ((at = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, at);
          buffered = buffered.slice(at + 2);
          if (!block.startsWith('data: ')) continue;
          const data = block.slice(6);
          if (data === '[DONE]') isDone = true;
          else events.push(JSON.parse(data));
          if (afterEvents !== undefined && events.length >= afterEvents && !isDone) {
            req.destroy();
            return finish(true);
          }
        }
      });
      res.on('end', () => finish(false));
      res.on('error', () => finish(true));
    });
    req.on('error', (error) => (afterEvents === undefined ? reject(error) : resolve({ status: 0, events, isDone, hungUp: true })));
    req.end(JSON.stringify(body));
  });
}

/** Opens a connection and writes `parts` with pauses between them, then hangs up (slow or abandoned clients). */
export async function trickle(port: number, parts: string[], pauseMs: number): Promise<string> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const part of parts) {
    if (socket.destroyed) break;
    socket.write(part);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  socket.destroy();
  return received;
}
