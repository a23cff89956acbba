import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Runtime } from '../runtime.js';
import { createGatewayEngine, type GatewayEngine } from './engine.js';
import { loadGatewayConfig } from './gateway-config.js';
import { createGatewayProxy, type GatewayProxy } from './proxy.js';
import { createGatewayUpgradeProxy, type GatewayUpgradeProxy } from './proxy-upgrade.js';
import { resolveUpstreamSecret } from './upstream-secret.js';

/**
 * Reads the gateway's configuration and upstream secret at start-up (a bad file or a missing
 * production secret stops start-up before anything opens), then builds the engine and, with
 * GATEHOUSE_UPSTREAM_URL, the proxy over the runtime.
 */
export function prepareGateway(config: Config, logger?: Logger) {
  const gatewayConfig = loadGatewayConfig(config.gatewayConfigFile);
  const upstream = resolveUpstreamSecret(config);
  if (upstream.source === 'generated') {
    logger?.warn(
      'generated the upstream signing secret into the data dir (upstream-secret); give it to the upstream',
    );
  }
  const trustProxy = (config.trustProxy ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    build(runtime: Runtime): { engine: GatewayEngine; proxy?: GatewayProxy; upgrade?: GatewayUpgradeProxy } {
      const engine = createGatewayEngine({
        runtime,
        config: gatewayConfig,
        trustProxy,
        upstreamSecret: upstream.secret,
        upstreamTimeoutMs: config.upstreamTimeoutMs,
        ...(logger ? { logger } : {}),
      });
      if (config.upstreamUrl === undefined) return { engine };
      const proxy = createGatewayProxy({
        engine,
        upstreamUrl: config.upstreamUrl,
        timeoutMs: config.upstreamTimeoutMs,
        clock: runtime.clock,
        hsts: config.tlsCert !== undefined,
        ...(logger ? { logger } : {}),
      });
      const upgrade = createGatewayUpgradeProxy({
        engine,
        upstreamUrl: config.upstreamUrl,
        timeoutMs: config.upstreamTimeoutMs,
        idleTimeoutMs: config.tunnelIdleTimeoutMs,
        hsts: config.tlsCert !== undefined,
        ...(logger ? { logger } : {}),
      });
      return { engine, proxy, upgrade };
    },
  };
}
