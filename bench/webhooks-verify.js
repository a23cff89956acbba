// Webhook verification throughput: the SDK's verifyWebhook against the npm `standardwebhooks`
// and `svix` verifiers and a bare createHmac over the same signed content, at 1 KiB and 64 KiB,
// side by side in one run.
import { createHmac, randomBytes } from 'node:crypto';
import { verifyWebhook, verifyWebhookSignature } from '@gatehouse/sdk';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { compare } from './measure.js';

/** A JSON event of about `size` bytes, like a payment event with a padded description. */
function eventOfSize(size) {
  const base = {
    id: 'evt_01JBENCH',
    type: 'payment.succeeded',
    data: { amount: 1200, currency: 'eur', description: '' },
  };
  const pad = size - JSON.stringify(base).length;
  base.data.description = 'x'.repeat(Math.max(0, pad));
  return JSON.stringify(base);
}

async function suite(size) {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const key = Buffer.from(secret.slice(6), 'base64');
  const body = eventOfSize(size);
  const payload = Buffer.from(body);
  const id = 'evt_01JBENCH';
  // standardwebhooks and svix read the system clock: sign with the real time of this run
  const timestamp = Math.floor(Date.now() / 1000);
  const content = Buffer.from(`${id}.${timestamp}.${body}`);
  const signature = `v1,${createHmac('sha256', key).update(content).digest('base64')}`;
  const headers = {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signature,
  };
  const standard = new StandardWebhook(secret);
  const svix = new SvixWebhook(secret);
  let sink = 0;
  const variants = {
    'bare createHmac': () => {
      sink ^= createHmac('sha256', key).update(content).digest()[0];
    },
    'bare createHmac + JSON.parse': () => {
      sink ^= createHmac('sha256', key).update(content).digest()[0];
      sink ^= JSON.parse(body).data.amount;
    },
    'SDK verifyWebhookSignature (no parse)': () => {
      sink ^= verifyWebhookSignature({ payload, headers, secret }).timestamp;
    },
    'SDK verifyWebhook (parsed event)': async () => {
      sink ^= (await verifyWebhook({ payload, headers, secret })).data.amount;
    },
    'standardwebhooks 1.1.1': () => {
      sink ^= standard.verify(payload, headers).data.amount;
    },
    'svix 1.99.1': () => {
      sink ^= svix.verify(payload, headers).data.amount;
    },
  };
  // every variant must accept the delivery before it is timed
  for (const fn of Object.values(variants)) await fn(0);
  const results = await compare(variants, { rounds: 5, ms: 1000 });
  return { results, sink };
}

export async function run() {
  const sizes = { '1 KiB': 1024, '64 KiB': 65536 };
  const results = {};
  const lines = [];
  let sink = 0;
  for (const [label, size] of Object.entries(sizes)) {
    const r = await suite(size);
    sink ^= r.sink;
    results[label] = r.results;
    const hmac = r.results['bare createHmac'].opsPerSec;
    const hmacParse = r.results['bare createHmac + JSON.parse'].opsPerSec;
    const standard = r.results['standardwebhooks 1.1.1'].opsPerSec;
    for (const [name, v] of Object.entries(r.results)) {
      lines.push(
        `| ${label} | ${name} | ${v.opsPerSec.toLocaleString('en-US')} | ${(v.opsPerSec / hmac).toFixed(2)}× | ${(v.opsPerSec / hmacParse).toFixed(2)}× | ${(v.opsPerSec / standard).toFixed(2)}× |`,
      );
    }
  }
  const markdown = [
    `webhooks-verify: node ${process.version}, median of 5 alternating 1 s rounds per body size (sink ${sink & 1})`,
    '',
    '| body | variant | verifications/s | vs bare HMAC | vs HMAC + JSON.parse | vs standardwebhooks |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...lines,
  ].join('\n');
  return {
    name: 'webhooks-verify',
    node: process.version,
    date: new Date().toISOString(),
    results,
    markdown,
  };
}
