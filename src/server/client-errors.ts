/**
 * Bytes on a connection that are not HTTP (Node's parser fails: 'clientError'). If a
 * request received whole before them is still being answered on that socket (e.g. a DELETE
 * whose unframed body was read as the next request), that answer is sent first and then
 * the connection is closed; otherwise an OpenAI-shaped 400 (431 for oversized headers, 408
 * for a request timeout) is written and the connection closed.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Responses in flight, by socket (set from an onRequest hook). */
export class PendingResponses {
  private readonly bySocket = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();

  track(req: IncomingMessage, res: ServerResponse): void {
    const socket = res.socket;
    if (!socket) return;
    const entry = { req, res };
    this.bySocket.set(socket, entry);
    res.once('close', () => {
      if (this.bySocket.get(socket) === entry) this.bySocket.delete(socket);
    });
  }

  handleClientError(error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const pending = this.bySocket.get(socket);
    if (pending && pending.req.complete && !pending.res.writableFinished) {
      pending.res.once('close', () => socket.destroy());
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: { message: `malformed HTTP request (${error.code ?? error.message})`, type: 'invalid_request_error', param: null, code: 'malformed_request' } });
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  }
}
