import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Caller } from '../services/principal.js';

export interface RouteContext<B, Q> {
  caller: Caller;
  body: B;
  query: Q;
  params: Record<string, string>;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One route: its HTTP shape, the schemas it validates and documents, and its handler.
 * The same definition registers the Fastify route and its OpenAPI operation.
 */
export interface RouteDef<BS extends z.ZodType = z.ZodType, QS extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  /** `operator` routes need an operator key; `key` routes any valid key; `none` no key. */
  auth: 'none' | 'key' | 'operator';
  scope?: string;
  body?: BS;
  query?: QS;
  response: z.ZodType;
  status?: number;
  handler(ctx: RouteContext<z.output<BS>, z.output<QS>>): Promise<unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of routes; each is checked where defined
export type AnyRoute = RouteDef<any, any>;

export function defineRoute<BS extends z.ZodType = z.ZodType, QS extends z.ZodType = z.ZodType>(
  def: RouteDef<BS, QS>,
): RouteDef<BS, QS> {
  return def;
}

export function listResponse<T>(url: string, page: { data: T[]; hasMore: boolean }) {
  return { object: 'list' as const, data: page.data, has_more: page.hasMore, url };
}
