import { randomBytes } from 'node:crypto';
import { type GatehouseRequest, GatehouseSignatureError, verifyGatehouseRequest } from '@gatehouse/sdk';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { containsCardNumber } from './card-number-guard.js';
import { type Customer, Ledger, newObjectId, type Payment, type Refund, type World } from './ledger.js';
import { PaymentsError } from './payments-error.js';
import { listOptions, metadata, objectBody, optionalString } from './request-body.js';
import { TEST_SOURCES } from './test-sources.js';

export interface PaymentsApiOptions {
  /** the secret shared with Gatehouse (its GATEHOUSE_UPSTREAM_SECRET) */
  upstreamSecret: string;
  /** Unix milliseconds; injected by tests */
  clock?: { now(): number };
  /** pino-compatible logger; default: no logging */
  logger?: FastifyBaseLogger;
  /** how far a Gatehouse-Signature timestamp may drift, in seconds (default 300) */
  toleranceSeconds?: number;
  /** where `payment.succeeded`, `payment.failed` and `refund.created` go; a failure is logged, never fails the request */
  events?: EventPublisher;
}

/** An event for Gatehouse's `POST /v1/events`: the payment or refund object, no card data. */
export interface PaymentsEvent {
  account: string;
  mode: 'test' | 'live';
  type: 'payment.succeeded' | 'payment.failed' | 'refund.created';
  data: Record<string, unknown>;
}

export interface EventPublisher {
  publish(event: PaymentsEvent): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    gatehouse: GatehouseRequest | null;
  }
}

const MAX_AMOUNT = 99_999_999;

/**
 * A small PayQI-like payments API that trusts only requests signed by Gatehouse: it has no
 * keys of its own, and learns the account and mode from the signed Gatehouse-* headers.
 * Test mode only; payments succeed or fail by test token; data lives in memory.
 */
export function createPaymentsApi(options: PaymentsApiOptions): FastifyInstance {
  if (typeof options.upstreamSecret !== 'string' || options.upstreamSecret.length < 32) {
    throw new Error('upstreamSecret must be at least 32 characters');
  }
  const clock = options.clock ?? { now: () => Date.now() };
  const seconds = () => Math.floor(clock.now() / 1000);
  const ledger = new Ledger();
  // A signed request is good for the tolerance both ways: one seen inside that time is a
  // replay (captured between Gatehouse and this API), refused like an unsigned one.
  const seen = new SeenRequestIds(2 * (options.toleranceSeconds ?? 300));
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 100 },
  }) as unknown as FastifyInstance;
  app.decorateRequest('gatehouse', null);

  const requestIdOf = (request: FastifyRequest) =>
    request.gatehouse?.requestId ?? `req_local_${randomBytes(9).toString('base64url')}`;

  app.setErrorHandler((err: unknown, request, reply) => {
    let e: PaymentsError;
    if (err instanceof PaymentsError) e = err;
    else {
      const status = (err as { statusCode?: unknown }).statusCode;
      if (status === 413) e = PaymentsError.invalid('body_too_large', 'The request body is too large.');
      else if (status === 415)
        e = new PaymentsError(
          415,
          'invalid_request_error',
          'unsupported_media_type',
          'The request body must be application/json.',
        );
      else if (typeof status === 'number' && status >= 400 && status < 500)
        e = String((err as { code?: unknown }).code).startsWith('FST_ERR_CTP')
          ? PaymentsError.invalid('body_invalid_json', 'The request body is not valid JSON.')
          : PaymentsError.invalid('request_invalid', 'The request is malformed.');
      else {
        request.log.error({ err }, 'payments api failed');
        e = new PaymentsError(500, 'api_error', 'internal_error', 'An internal error occurred.');
      }
    }
    return reply.status(e.status).send({
      error: {
        type: e.type,
        code: e.code,
        message: e.message,
        ...(e.param !== undefined ? { param: e.param } : {}),
        request_id: requestIdOf(request),
      },
    });
  });
  app.setNotFoundHandler((_request, _reply) => {
    throw new PaymentsError(404, 'invalid_request_error', 'route_not_found', 'Unrecognized request URL.');
  });

  // Nothing is believed before the signature checks out: the account and mode come from it.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    try {
      const verified = verifyGatehouseRequest({
        headers: request.headers,
        method: request.method,
        path: request.url,
        secret: options.upstreamSecret,
        now: seconds(),
        ...(options.toleranceSeconds !== undefined ? { toleranceSeconds: options.toleranceSeconds } : {}),
      });
      if (!seen.first(verified.requestId, seconds())) throw new Replayed();
      request.gatehouse = verified;
    } catch (err) {
      if (!(err instanceof GatehouseSignatureError) && !(err instanceof Replayed)) throw err;
      const reason = err instanceof Replayed ? 'replayed' : err.code;
      request.log.warn({ reason }, 'request without a valid Gatehouse-Signature');
      throw new PaymentsError(
        401,
        'authentication_error',
        'gatehouse_signature_invalid',
        'This API accepts only requests that come through Gatehouse.',
      );
    }
    reply.header('Request-Id', request.gatehouse.requestId);
    if (request.gatehouse.mode !== 'test') {
      throw new PaymentsError(
        403,
        'permission_error',
        'live_mode_unavailable',
        'This demo has no live processing: use a test key (sk_test_…).',
      );
    }
    if (containsCardNumber(decodeURIComponentSafe(request.url))) throw cardDataRefused();
  });

  // Raw card numbers are refused before the body is parsed, so they are never stored or logged.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, raw, done) => {
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    if (containsCardNumber(text)) return done(cardDataRefused(), undefined);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(PaymentsError.invalid('body_invalid_json', 'The request body is not valid JSON.'), undefined);
    }
  });

  const worldOf = (request: FastifyRequest): World => {
    const g = request.gatehouse as GatehouseRequest;
    return ledger.world(g.account, g.mode);
  };
  const publish = async (request: FastifyRequest, type: PaymentsEvent['type'], object: Payment | Refund) => {
    if (!options.events) return;
    const g = request.gatehouse as GatehouseRequest;
    try {
      await options.events.publish({
        account: g.account,
        mode: g.mode,
        type,
        data: structuredClone(object) as unknown as Record<string, unknown>,
      });
    } catch (err) {
      request.log.warn({ err, type, id: object.id }, 'publishing an event failed');
    }
  };
  const list = <T>(url: string, page: { data: T[]; hasMore: boolean } | undefined) => {
    if (!page) throw PaymentsError.invalid('resource_missing', 'No such object for the cursor.');
    return { object: 'list', data: page.data, has_more: page.hasMore, url };
  };

  app.post('/v1/payments', async (request) => {
    const body = objectBody(request.body, [
      'amount',
      'currency',
      'source',
      'customer',
      'description',
      'metadata',
    ]);
    const amount = body['amount'];
    if (amount === undefined)
      throw PaymentsError.invalid('parameter_missing', 'amount is required.', 'amount');
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > MAX_AMOUNT) {
      throw PaymentsError.invalid(
        'parameter_invalid',
        `amount must be an integer in minor units (cents) from 1 to ${MAX_AMOUNT}.`,
        'amount',
      );
    }
    const currency = body['currency'];
    if (currency === undefined)
      throw PaymentsError.invalid('parameter_missing', 'currency is required.', 'currency');
    if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
      throw PaymentsError.invalid('parameter_invalid', 'currency must be a 3-letter ISO code.', 'currency');
    }
    const source = body['source'];
    if (source === undefined)
      throw PaymentsError.invalid('parameter_missing', 'source is required.', 'source');
    if (typeof source !== 'string' || !Object.hasOwn(TEST_SOURCES, source)) {
      throw PaymentsError.invalid(
        'parameter_invalid',
        `source must be a test token: ${Object.keys(TEST_SOURCES).join(', ')}.`,
        'source',
      );
    }
    const world = worldOf(request);
    const customer = optionalString(body['customer'], 'customer', 64);
    if (customer !== null && !world.customers.get(customer)) throw PaymentsError.missing('customer');
    const outcome = TEST_SOURCES[source] ?? null;
    const payment: Payment = {
      id: newObjectId('pi'),
      object: 'payment',
      amount,
      amount_refunded: 0,
      currency: currency.toLowerCase(),
      status: outcome ? 'failed' : 'succeeded',
      source,
      customer,
      description: optionalString(body['description'], 'description', 500),
      metadata: metadata(body['metadata']),
      failure_code: outcome?.failure_code ?? null,
      failure_message: outcome?.failure_message ?? null,
      refunded: false,
      livemode: false,
      created: seconds(),
      request_id: requestIdOf(request),
    };
    const added = world.payments.add(payment);
    await publish(request, payment.status === 'succeeded' ? 'payment.succeeded' : 'payment.failed', added);
    return added;
  });

  app.get('/v1/payments', async (request) => {
    const opts = listOptions(request.query, ['customer']);
    const customer = (request.query as Record<string, unknown>)['customer'];
    const filter = typeof customer === 'string' ? (p: Payment) => p.customer === customer : undefined;
    return list('/v1/payments', worldOf(request).payments.page(opts, filter));
  });

  app.get<{ Params: { id: string } }>('/v1/payments/:id', async (request) => {
    const payment = worldOf(request).payments.get(request.params.id);
    if (!payment) throw PaymentsError.missing();
    return payment;
  });

  app.post<{ Params: { id: string } }>('/v1/payments/:id/refund', async (request) => {
    const body = objectBody(request.body, ['amount']);
    const world = worldOf(request);
    const payment = world.payments.get(request.params.id);
    if (!payment) throw PaymentsError.missing();
    if (payment.status !== 'succeeded') {
      throw PaymentsError.invalid('payment_not_refundable', 'Only a succeeded payment can be refunded.');
    }
    const remaining = payment.amount - payment.amount_refunded;
    if (remaining === 0) {
      throw PaymentsError.invalid(
        'payment_already_refunded',
        'This payment has already been fully refunded.',
      );
    }
    const amount = body['amount'] ?? remaining;
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1) {
      throw PaymentsError.invalid('parameter_invalid', 'amount must be a positive integer.', 'amount');
    }
    if (amount > remaining) {
      throw PaymentsError.invalid(
        'amount_too_large',
        `The refund amount is greater than what is left to refund (${remaining}).`,
        'amount',
      );
    }
    payment.amount_refunded += amount;
    payment.refunded = payment.amount_refunded === payment.amount;
    const refund: Refund = {
      id: newObjectId('re'),
      object: 'refund',
      payment: payment.id,
      amount,
      currency: payment.currency,
      status: 'succeeded',
      created: seconds(),
      request_id: requestIdOf(request),
    };
    const added = world.refunds.add(refund);
    await publish(request, 'refund.created', added);
    return added;
  });

  app.post('/v1/customers', async (request) => {
    const body = objectBody(request.body, ['email', 'name', 'description', 'metadata']);
    const email = optionalString(body['email'], 'email', 320);
    if (email !== null && !/^[^@\s]+@[^@\s]+$/.test(email)) {
      throw PaymentsError.invalid('parameter_invalid', 'email must be an email address.', 'email');
    }
    const customer: Customer = {
      id: newObjectId('cus'),
      object: 'customer',
      email,
      name: optionalString(body['name'], 'name', 200),
      description: optionalString(body['description'], 'description', 500),
      metadata: metadata(body['metadata']),
      livemode: false,
      created: seconds(),
    };
    return worldOf(request).customers.add(customer);
  });

  app.get('/v1/customers', async (request) =>
    list('/v1/customers', worldOf(request).customers.page(listOptions(request.query))),
  );

  app.get<{ Params: { id: string } }>('/v1/customers/:id', async (request) => {
    const customer = worldOf(request).customers.get(request.params.id);
    if (!customer) throw PaymentsError.missing();
    return customer;
  });

  return app;
}

function cardDataRefused(): PaymentsError {
  // generic on purpose: the message never says where the number was, nor echoes it
  return PaymentsError.invalid(
    'card_data_not_allowed',
    'Card numbers are not accepted by this API. Send a test token such as tok_visa instead.',
  );
}

function decodeURIComponentSafe(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

export interface RunningPaymentsApi {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** Listens on a loopback port (a free one by default) and says where. */
export async function startPaymentsApi(
  options: PaymentsApiOptions & { port?: number; host?: string },
): Promise<RunningPaymentsApi> {
  const { port = 0, host = '127.0.0.1', ...rest } = options;
  const app = createPaymentsApi(rest);
  await app.listen({ port, host });
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  return { app, url, close: () => app.close() };
}

/** A signed request whose id was seen before (within the signature's time window). */
class Replayed extends Error {}

/** Request ids seen in the last `ttlSeconds`, oldest first (so the expired ones are at the front). */
class SeenRequestIds {
  readonly #until = new Map<string, number>();
  constructor(private readonly ttlSeconds: number) {}

  /** true the first time an id is seen within the TTL */
  first(id: string, now: number): boolean {
    for (const [old, until] of this.#until) {
      if (until > now) break;
      this.#until.delete(old);
    }
    if (this.#until.has(id)) return false;
    this.#until.set(id, now + this.ttlSeconds);
    return true;
  }
}
