export { createGatewayEngine, GATEWAY_STEPS, type GatewayEngine, type GatewayEngineDeps } from './engine.js';
export { registerFrontProxyRoutes } from './front-proxy-routes.js';
export {
  type GatewayConfig,
  type GatewayConfigInput,
  GatewayConfigSchema,
  loadGatewayConfig,
  parseGatewayConfig,
} from './gateway-config.js';
export { prepareGateway } from './gateway-from-config.js';
export {
  type GatehouseExpressOptions,
  type GatehouseExpressRequest,
  gatehouseExpress,
} from './middleware/express.js';
export { type GatehouseFastifyOptions, gatehouseFastify } from './middleware/fastify.js';
export { type GatehouseHonoOptions, gatehouseHono, type HonoLikeContext } from './middleware/hono.js';
export { isOwnedPath, OWNED_PATH_PREFIXES } from './owned-paths.js';
export { createGatewayProxy, type GatewayProxy, type GatewayProxyOptions } from './proxy.js';
export {
  createGatewayUpgradeProxy,
  type GatewayUpgradeProxy,
  type GatewayUpgradeProxyOptions,
} from './proxy-upgrade.js';
export type {
  GatewayAllow,
  GatewayDecision,
  GatewayHeaders,
  GatewayPrincipal,
  GatewayRefusal,
  GatewayRequest,
  IdempotencyOutcome,
  IdempotencyTicket,
  StoredResponse,
} from './types.js';
export { resolveUpstreamSecret, UPSTREAM_SECRET_FILE } from './upstream-secret.js';
