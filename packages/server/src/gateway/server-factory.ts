import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isOwnedPath } from './owned-paths.js';
import type { GatewayProxy } from './proxy.js';
import type { GatewayUpgradeProxy } from './proxy-upgrade.js';

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
        ? // TLS 1.2 minimum, 1.3 preferred, as the app sets when it builds its own server
          (createHttpsServer({ ...https, minVersion: 'TLSv1.2' }, listener) as unknown as Server)
        : createServer({ keepAliveTimeout: 72_000 }, listener);
    if (upgrade !== undefined) server.on('upgrade', upgrade.handle);
    return server;
  };
}
