import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { GatehouseError } from '@gatehouse/contract';
import { newRequestId } from '../gateway/request-id.js';
import { errorBody } from './error-body.js';
import { standardHeaders } from './standard-headers.js';

/**
 * node:http's `clientError`: a request it could not read (headers over its size limit, a
 * request line or header it cannot parse, a client too slow to send them), so there is no
 * request to answer through. The standard error body and headers are written on the socket
 * itself, as node:http would write its bare status line, and the connection is closed.
 */
export function clientErrorHandler(hsts: boolean) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // never into the middle of an answer already under way on this connection
    const current = (socket as Socket & { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
    if (socket.writable && (current == null || !current.headersSent)) {
      const error = new GatehouseError(
        err.code === 'HPE_HEADER_OVERFLOW'
          ? 'headers_too_large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? 'request_timeout'
            : 'request_malformed',
      );
      const id = newRequestId(Date.now());
      const body = JSON.stringify(errorBody(error, id));
      const headers = {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        ...standardHeaders(id, hsts),
        connection: 'close',
      };
      let head = `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n`;
      for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
      socket.end(`${head}\r\n${body}`);
      // closed once the answer is written, whether or not the client closes its side
      socket.destroySoon();
      return;
    }
    socket.destroy();
  };
}
