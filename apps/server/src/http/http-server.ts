import { createServer, maxHeaderSize, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Express } from 'express';
import { ApiError, type ErrorKind } from './errors.ts';

/** The answer to a request refused before Express saw it, in the dialect of the API its path names. */
export interface Refusal {
  contentType: string;
  body: string;
  headers: Array<[string, string]>;
}

/** Renders `error` as the API that owns `path` would (the root API's when the path is unknown). */
export type RenderRefusal = (path: string | undefined, error: ApiError) => Refusal;

const REFUSALS: Record<string, [ErrorKind, string]> = {
  HPE_HEADER_OVERFLOW: ['header_fields_too_large', `The request headers are too large: at most ${maxHeaderSize} bytes in all are accepted.`],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: ['payload_too_large', 'The chunk extensions of the request body are too large.'],
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'The request was not received in time.'],
};
const MALFORMED: [ErrorKind, string] = ['bad_request', 'The request is not valid HTTP/1.1 (request line or header field).'];

/**
 * Method and path of the request line at the start of `packet`, if it is
 * there (origin- or absolute-form); the path may be only its beginning.
 */
export function requestLineOf(packet: Buffer | undefined): { method: string; path: string | undefined } | undefined {
  if (!packet || packet.length === 0) return undefined;
  const head = packet.toString('latin1', 0, Math.min(packet.length, 65_536));
  // A target cut off by the end of the packet (a path of 100 KB) still
  // starts with its mount, which is all the dialect depends on.
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) ([^\s?]+)(?:[?\s]|$)/.exec(head);
  if (!m) return undefined;
  return { method: m[1]!, path: pathOf(m[2]!) };
}

function pathOf(requestTarget: string): string | undefined {
  let target = requestTarget;
  if (/^https?:\/\//i.test(target)) {
    try {
      target = new URL(target).pathname;
    } catch {
      return undefined;
    }
  }
  if (!target.startsWith('/')) return undefined;
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/**
 * The HTTP server for `app`. Node answers a request it cannot parse (headers
 * over its limit, a malformed request line or header, a request that did
 * not arrive in time) itself, before Express, with an empty body. Here that
 * answer has the status Node would send and the error body of the API the
 * request line names, like any other error of that API; the connection is
 * then closed, as Node does.
 */
export function createHttpServer(app: Express): Server {
  const server = createServer(app as (req: IncomingMessage, res: ServerResponse) => void);
  const render = app.locals.renderRefusal as RenderRefusal | undefined;
  server.on('clientError', (err: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
    const pending = (socket as Duplex & { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || pending?._headerSent) {
      socket.destroy();
      return;
    }
    const [kind, message] = REFUSALS[err.code ?? ''] ?? MALFORMED;
    const error = new ApiError(kind, message);
    const line = requestLineOf(err.rawPacket);
    const refusal = render?.(line?.path, error) ?? { contentType: 'text/plain; charset=utf-8', body: `${message}\n`, headers: [] };
    const head = [
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}`,
      'Connection: close',
      `Content-Type: ${refusal.contentType}`,
      `Content-Length: ${Buffer.byteLength(refusal.body)}`,
      'Cache-Control: no-store',
      'X-Content-Type-Options: nosniff',
      ...refusal.headers.map(([name, value]) => `${name}: ${value}`),
    ];
    // a HEAD answer has the headers of the GET answer and no body
    socket.end(`${head.join('\r\n')}\r\n\r\n${line?.method === 'HEAD' ? '' : refusal.body}`);
  });
  return server;
}
