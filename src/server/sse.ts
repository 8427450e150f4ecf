/** Server-sent events over a raw Node response: `data: {json}\n\n` per event, `data: [DONE]` at the end. */
import type { ServerResponse } from 'node:http';

export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  /** True once the client has gone (or the stream was ended). */
  get isClosed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
  }

  send(event: object): void {
    if (!this.isClosed) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** Writes the terminator and ends the response. */
  done(): void {
    if (this.isClosed) return;
    this.res.write('data: [DONE]\n\n');
    this.res.end();
  }
}
