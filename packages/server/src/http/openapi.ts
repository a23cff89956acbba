import { ErrorBody } from '@gatehouse/contract';
import { z } from 'zod';
import type { AnyRoute } from './route.js';

type JsonSchema = Record<string, unknown>;

/** Builds the OpenAPI 3.1 document from the same route definitions and zod schemas the server runs. */
export function buildOpenApi(routes: readonly AnyRoute[], version: string): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = {};
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const json = z.toJSONSchema(schema, {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
      reused: 'inline',
    }) as JsonSchema;
    const defs = (json['$defs'] ?? {}) as Record<string, JsonSchema>;
    for (const [name, def] of Object.entries(defs)) schemas[name] = def;
    delete json['$defs'];
    delete json['$schema'];
    return JSON.parse(JSON.stringify(json).replaceAll('#/$defs/', '#/components/schemas/')) as JsonSchema;
  };
  const errorSchema = toSchema(ErrorBody, 'output');
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const m of route.url.matchAll(/:([A-Za-z_]+)/g)) {
      parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    if (route.query) {
      const q = toSchema(route.query, 'input');
      const props = (q['properties'] ?? {}) as Record<string, JsonSchema>;
      const required = new Set((q['required'] ?? []) as string[]);
      for (const [name, schema] of Object.entries(props)) {
        parameters.push({ name, in: 'query', required: required.has(name), schema });
      }
    }
    const operation: Record<string, unknown> = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters,
      responses: {
        [String(route.status ?? 200)]: {
          description: 'OK',
          content: { 'application/json': { schema: toSchema(route.response, 'output') } },
        },
        default: { description: 'Error', content: { 'application/json': { schema: errorSchema } } },
      },
    };
    if (route.auth !== 'none') operation['security'] = [{ bearer: [] }, { basic: [] }];
    if (route.scope) operation['x-gatehouse-scope'] = route.scope;
    if (route.auth === 'operator') operation['x-gatehouse-operator-only'] = true;
    if (route.body) {
      operation['requestBody'] = {
        required: false,
        content: { 'application/json': { schema: toSchema(route.body, 'input') } },
      };
    }
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse API',
      version,
      description: 'API keys, enforcement, webhooks and audit for payment-style APIs.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key: sk_…, rk_…, pk_… or adm_…' },
        basic: { type: 'http', scheme: 'basic', description: 'The API key as the user name, no password' },
      },
    },
  };
}
