import type { FastifyInstance } from 'fastify';
import { ACME, gatehouseHeaders, type Identity } from './signed-request.js';

export interface Answer {
  status: number;
  headers: Record<string, unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are read field by field
  body: any;
  text: string;
}

/** One request as Gatehouse would forward it (signed), unless `headers` replaces the signing. */
export async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  options: { who?: Identity; headers?: Record<string, string>; raw?: string } = {},
): Promise<Answer> {
  const headers = options.headers ?? gatehouseHeaders(method, url, options.who ?? ACME);
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await app.inject({
    method,
    url,
    headers: { ...headers, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(payload !== undefined ? { payload } : {}),
  });
  return { status: res.statusCode, headers: res.headers, body: res.json(), text: res.body };
}
