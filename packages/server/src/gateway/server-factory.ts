import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLS_SERVER_OPTIONS } from '../http/tls-server-options.js';
import { isOwnedPath } from './owned-paths.js';
import type { GatewayProxy } from './proxy.js';
import { declaresBody, type GatewayUpgradeProxy } from './proxy-upgrade.js';

/**
 * A Fastify `serverFactory`: one node:http(s) server whose request listener hands the paths
 * Gatehouse owns to Fastify and everything else straight to the proxy, so proxied requests
 * skip Fastify's routing and hooks. HTTP Upgrade requests (WebSocket) go to `upgrade`.
 */
export function gatewayServerFactory(
  proxy: GatewayProxy,
  https: { cert: Buffer; key: Buffer } | undefined,
  upgrade?: GatewayUpgradeProxy,
) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (isOwnedPath(req.url ?? '/')) handler(req, res);
      else proxy.handle(req, res);
    };
    const server =
      https !== undefined
        ? // the same protocols and suites as the app's own HTTPS server
          (createHttpsServer({ ...https, ...TLS_SERVER_OPTIONS }, listener) as unknown as Server)
        : createServer({ keepAliveTimeout: 72_000 }, listener);
    if (upgrade !== undefined) {
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        // A path Gatehouse owns does not upgrade. A request that only offers to (curl --http2
        // sends `Upgrade: h2c` over plain HTTP) is answered as the same request without the
        // offer, on a connection that closes after the answer; a WebSocket handshake there is
        // refused by the upgrade proxy (404).
        if (isOwnedPath(req.url ?? '/') && !isWebSocket(req) && !declaresBody(req) && head.length === 0) {
          // node:http stopped watching this socket when it emitted 'upgrade': its errors (a
          // client reset) and an idle client are ours to end
          socket.on('error', () => socket.destroy());
          (socket as Socket).setTimeout(UPGRADE_FALLBACK_TIMEOUT_MS, () => socket.destroy());
          const res = new ServerResponse(req);
          res.shouldKeepAlive = false;
          res.assignSocket(socket as Socket);
          res.on('finish', () => {
            res.detachSocket(socket as Socket);
            socket.end();
          });
          handler(req, res);
          return;
        }
        upgrade.handle(req, socket, head);
      });
    }
    return server;
  };
}

/** How long a request answered on an upgrade socket may take before the socket is closed. */
const UPGRADE_FALLBACK_TIMEOUT_MS = 60_000;

function isWebSocket(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase().includes('websocket');
}
