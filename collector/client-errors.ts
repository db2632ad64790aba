import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger';
import type { CollectorMetrics } from './metrics';

// Requests Node's HTTP parser refuses before any route runs: a request line and headers over
// collector.maxHeaderBytes, a request line that is not HTTP, a request that outlives its timeout.
// Fastify's own handler answers these with a JSON body, which a client that sent HEAD cannot
// frame (it reads no body after a HEAD, so the body's bytes are taken for the next response and
// the connection breaks). The parser refused the request before its method was known, so the
// answer is one any client can read: a status line and no body, as Node's own server sends.

/** The route label such refusals are counted under in sluice_collector_requests_total. */
export const CLIENT_ERROR_ROUTE = 'client_error';

/** The status Node's own server gives each parser refusal (see `_http_server.js`). */
export function clientErrorStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/** The whole answer to a refused request: status line, no body, connection closed. */
export function clientErrorResponse(status: number): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
}

type ParserError = Error & { code?: string };
// Node's own check: a response already under way on this socket must not get a second status line.
type ServerSocket = Socket & { _httpMessage?: { headersSent?: boolean } };

export function makeClientErrorHandler(metrics: CollectorMetrics, log: Logger): (err: ParserError, socket: Socket) => void {
  return (err, socket) => {
    // A reset or an already-closed socket has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const status = clientErrorStatus(err.code);
    metrics.countRequest(CLIENT_ERROR_ROUTE, status);
    // The code only: the request's bytes (err.rawPacket) may carry cookies or tokens.
    log.debug({ code: err.code, status }, 'request refused by the HTTP parser');
    if (socket.writable && !(socket as ServerSocket)._httpMessage?.headersSent) socket.write(clientErrorResponse(status));
    // Closed now, as Node does: the parser is done with this connection and the client may still be sending.
    socket.destroy();
  };
}
