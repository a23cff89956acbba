import type { GatewayRouteConfig } from './gateway-config.js';

/** A configured route, compiled once for matching. */
export interface GatewayRoute {
  method: string;
  /** literal segments; `:name` matches one segment; a trailing `*` matches the rest (even nothing) */
  segments: readonly string[];
  wildcard: boolean;
  scope: string | undefined;
  public: boolean;
  modes: readonly ('test' | 'live')[] | undefined;
}

export function compileRoutes(routes: readonly GatewayRouteConfig[]): GatewayRoute[] {
  return routes.map((r) => {
    const parts = r.path.split('/').slice(1);
    const wildcard = parts[parts.length - 1] === '*';
    if (wildcard) parts.pop();
    if (parts[parts.length - 1] === '') parts.pop();
    return { method: r.method, segments: parts, wildcard, scope: r.scope, public: r.public, modes: r.modes };
  });
}

/**
 * The first route matching `method` and `path` (no query string), or null. A path that an
 * upstream might resolve differently than we split it (dot segments, empty segments, encoded
 * slashes or dots, back slashes, `;`) matches no route: it gets no public access and no scope
 * override, and `requiredScopeFor` asks `*` for it.
 */
export function matchRoute(
  routes: readonly GatewayRoute[],
  method: string,
  path: string,
): GatewayRoute | null {
  if (routes.length === 0) return null;
  const segments = cleanSegments(path);
  if (segments === null) return null;
  for (const route of routes) {
    if (route.method !== '*' && route.method !== method && !(route.method === 'GET' && method === 'HEAD'))
      continue;
    if (matches(route, segments)) return route;
  }
  return null;
}

function matches(route: GatewayRoute, segments: readonly string[]): boolean {
  const pattern = route.segments;
  if (route.wildcard ? segments.length < pattern.length : segments.length !== pattern.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    if (p.charCodeAt(0) === 58 /* : */) continue;
    if (p !== segments[i]) return false;
  }
  return true;
}

const SUSPICIOUS = /[%\\;]/;

/** The path's segments, or null when the path is anything but plain segments. */
export function cleanSegments(path: string): string[] | null {
  if (path.charCodeAt(0) !== 47 /* / */) return null;
  const parts = path.split('/');
  parts.shift();
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop(); // a trailing slash
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..' || SUSPICIOUS.test(p)) return null;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (c < 0x21 || c === 0x7f) return null;
    }
  }
  return parts;
}
