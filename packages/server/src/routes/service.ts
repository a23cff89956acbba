import { z } from 'zod';
import { type AnyRoute, defineRoute } from '../http/route.js';
import type { Runtime } from '../runtime.js';

const Health = z.object({ status: z.string() });

export function serviceRoutes(rt: Runtime, openapi: () => unknown): AnyRoute[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/healthz',
      summary: 'Liveness: the process answers',
      tag: 'service',
      auth: 'none',
      response: Health,
      handler: async () => ({ status: 'ok' }),
    }),
    defineRoute({
      method: 'GET',
      url: '/readyz',
      summary: 'Readiness: the store and the shared state answer',
      tag: 'service',
      auth: 'none',
      response: Health,
      handler: async ({ reply }) => {
        try {
          await rt.store.ping();
          await rt.kv.get('readyz');
          return { status: 'ready' };
        } catch {
          reply.status(503);
          return { status: 'unavailable' };
        }
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/openapi.json',
      summary: 'This document',
      tag: 'service',
      auth: 'none',
      response: z.record(z.string(), z.unknown()),
      handler: async () => openapi(),
    }),
  ];
}
