import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { type Config, ConfigError } from './config.js';
import { prepareGateway } from './gateway/gateway-from-config.js';
import { createLogger } from './logger.js';
import { openRuntime, type Runtime } from './runtime.js';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  logger: Logger;
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Opens the store (running migrations), builds the app and listens. */
/** how long close() waits for requests under way before it cuts their connections */
const SHUTDOWN_GRACE_MS = 10_000;

export async function startServer(
  config: Config,
  options: { logger?: Logger; shutdownGraceMs?: number } = {},
): Promise<RunningServer> {
  if (
    config.production &&
    config.tlsCert === undefined &&
    !LOOPBACK.test(config.host) &&
    !config.trustProxy
  ) {
    throw new ConfigError(
      'GATEHOUSE_HOST: plain HTTP on a non-loopback address is refused in production; set GATEHOUSE_TLS_CERT/KEY or GATEHOUSE_TRUST_PROXY for a TLS front proxy',
    );
  }
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const gateway = prepareGateway(config, logger);
  const runtime = await openRuntime(config, logger);
  const trustProxy = config.trustProxy
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const app = await createApp({
    runtime,
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    gateway: gateway.build(runtime),
    ...(trustProxy ? { trustProxy } : {}),
    ...(config.tlsCert && config.tlsKey
      ? {
          https: {
            cert: readFileSync(config.tlsCert),
            key: readFileSync(config.tlsKey),
          },
        }
      : {}),
  });
  await app.listen({ port: config.port, host: config.host });
  // The server delivers webhooks; runtime.close() stops the dispatcher gracefully.
  if (config.webhookDispatcher) runtime.startWebhookDispatcher({ leaseMs: config.webhookLeaseMs });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    app,
    runtime,
    logger,
    url,
    close() {
      closing ??= (async () => {
        // Requests under way get the grace period to finish; a connection still open after it
        // (a client that stopped sending mid-body, a stalled upstream) is cut, so a shutdown
        // is never held up by one client. The request log and the webhook outbox are written
        // after that, by runtime.close().
        const cut = setTimeout(() => {
          logger.warn('connections still open after the shutdown grace period: closing them');
          app.server.closeAllConnections();
        }, options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
        await runtime.close();
      })();
      return closing;
    },
  };
}
