import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCli, startGatehouse } from './cli-flow.js';

const run = promisify(execFile);

/** What `npm start` printed: the export lines and the commands, each with the comment above it. */
interface Printed {
  exports: string[];
  secrets: string[];
  commands: { comment: string; command: string }[];
  adminKeyPrinted: boolean;
}

function parseBanner(banner: string): Printed {
  const exports: string[] = [];
  const secrets: string[] = [];
  const commands: { comment: string; command: string }[] = [];
  let comment = '';
  for (const raw of banner.split('\n')) {
    const line = raw.trim();
    const exported = /^export (GATEHOUSE_[A-Z_]+)=(\S+)/.exec(line);
    if (exported) {
      exports.push(line);
      secrets.push(exported[2] as string);
    } else if (line.startsWith('# ')) comment = line;
    else if (/^(curl|for|sleep) /.test(line)) commands.push({ comment, command: line });
  }
  return { exports, secrets, commands, adminKeyPrinted: /GATEHOUSE_ADMIN_KEY=/.test(banner) };
}

/** Runs a printed line as a user who pasted the exports first would: in bash, exactly as printed. */
async function shell(printed: Printed, command: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', `${printed.exports.join('\n')}\n${command}`], {
    env: { PATH: process.env['PATH'] },
    timeout: 20_000,
  });
  return stdout;
}

function firstJson(text: string): { [key: string]: unknown } & { error?: { code: string } } {
  const end = text.lastIndexOf('}');
  return JSON.parse(text.slice(text.indexOf('{'), end + 1));
}

describe('npm start: the first session, run as printed', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let server: RunningCli;
  let printed: Printed;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-demo-'));
    env = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      GATEHOUSE_DATA_DIR: dir,
      // the webhook receiver below listens on loopback
      GATEHOUSE_WEBHOOK_ALLOWED_PRIVATE_HOSTS: '127.0.0.1',
    };
    // exactly what `npm start` runs after the build, on a free port instead of 8080
    server = await startGatehouse(['--demo'], env);
    printed = parseBanner(server.stderr());
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the keys once, as exports, and commands that use them', () => {
    expect(printed.adminKeyPrinted).toBe(true);
    expect(printed.exports.map((e) => e.split('=')[0])).toEqual([
      'export GATEHOUSE_ADMIN_KEY',
      'export GATEHOUSE_KEY',
      'export GATEHOUSE_READONLY_KEY',
      'export GATEHOUSE_ELSEWHERE_KEY',
      'export GATEHOUSE_BURST_KEY',
      'export GATEHOUSE_SPARE_KEY',
    ]);
    // every line goes through Gatehouse, but one that shows the payments API refusing a bypass
    expect(printed.commands.filter((c) => !c.command.includes(server.url))).toHaveLength(1);
    for (const { command } of printed.commands) expect(command).not.toMatch(/sk_test_|rk_test_|adm_/);
  });

  it('does what each printed line says', async () => {
    const seen = new Set<string>();
    const find = (what: RegExp) => {
      const found = printed.commands.filter((c) => what.test(c.command));
      expect(found, String(what)).toHaveLength(1);
      seen.add((found[0] as { command: string }).command);
      return (found[0] as { command: string }).command;
    };

    // a payment with the test key
    const paid = firstJson(await shell(printed, find(/\$GATEHOUSE_KEY" .*tok_visa"}' -w '\\n'$/)));
    expect(paid).toMatchObject({ object: 'payment', status: 'succeeded', amount: 2000, currency: 'usd' });
    expect(paid['id']).toMatch(/^pi_/);

    // the read-only key on a write
    const ro = firstJson(await shell(printed, find(/GATEHOUSE_READONLY_KEY/)));
    expect(ro.error?.code).toBe('insufficient_scope');

    // the allowlisted key from 127.0.0.1
    const elsewhere = firstJson(await shell(printed, find(/GATEHOUSE_ELSEWHERE_KEY/)));
    expect(elsewhere.error?.code).toBe('ip_not_allowed');

    // an Idempotency-Key, twice: one payment, replayed
    const idem = find(/Idempotency-Key/);
    const first = await shell(printed, idem);
    const second = await shell(printed, idem);
    expect(first).not.toMatch(/Idempotent-Replayed: true/i);
    expect(second).toMatch(/Idempotent-Replayed: true/i);
    const once = firstJson(first);
    expect(once['status']).toBe('succeeded');
    expect(firstJson(second)['id']).toBe(once['id']);

    // a burst: the limit passes, then 429 with Retry-After
    const burst = (await shell(printed, find(/^for i in/))).trim().split('\n');
    expect(burst.slice(0, 3).map((l) => l.split(' ')[0])).toEqual(['200', '200', '200']);
    for (const line of burst.slice(3)) expect(line).toMatch(/^429 Retry-After: [1-9]\d*$/);
    expect(burst.length).toBeGreaterThan(3);

    // a revocation, then the revoked key
    const revoked = firstJson(await shell(printed, find(/\/revoke /)));
    expect(revoked).toMatchObject({ object: 'api_key', status: 'revoked' });
    const refused = firstJson(await shell(printed, find(/GATEHOUSE_SPARE_KEY/)));
    expect(refused.error?.code).toBe('invalid_api_key');

    // straight to the payments API, around Gatehouse: refused
    const bypass = printed.commands.find((c) => !c.command.includes(server.url))?.command as string;
    seen.add(bypass);
    expect(firstJson(await shell(printed, bypass)).error?.code).toBe('gatehouse_signature_invalid');

    // the request log: the account's own requests, then the operator's view with the refusals
    // that no account can own; no secret in either
    const mine = await shell(printed, find(/request_logs.*\$GATEHOUSE_KEY"/));
    const own = firstJson(mine) as { object: string; data: { status: number; error_code: string | null }[] };
    expect(own.object).toBe('list');
    expect(own.data.map((e) => e.error_code)).toEqual(
      expect.arrayContaining([null, 'insufficient_scope', 'rate_limited']),
    );
    const all = await shell(printed, find(/request_logs.*\$GATEHOUSE_ADMIN_KEY"/));
    const codes = (firstJson(all) as { data: { error_code: string | null }[] }).data.map((e) => e.error_code);
    expect(codes).toEqual(
      expect.arrayContaining([
        null,
        'insufficient_scope',
        'ip_not_allowed',
        'rate_limited',
        'invalid_api_key',
      ]),
    );
    for (const secret of printed.secrets) {
      expect(mine).not.toContain(secret);
      expect(all).not.toContain(secret);
    }

    // only one payment of 42.00 was made, and nothing printed went unchecked
    const list = await fetch(`${server.url}/v1/payments?limit=100`, {
      headers: { authorization: `Bearer ${printed.secrets[1]}` },
    });
    const payments = ((await list.json()) as { data: { amount: number }[] }).data;
    expect(payments.filter((p) => p.amount === 4200)).toHaveLength(1);
    expect([...seen].sort()).toEqual(printed.commands.map((c) => c.command).sort());
  });

  it('sends the payments API’s payment.succeeded to a webhook endpoint, signed', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const auth = { authorization: `Bearer ${printed.secrets[1]}`, 'content-type': 'application/json' };
      const created = await fetch(`${server.url}/v1/webhook_endpoints`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
          enabled_events: ['payment.*', 'refund.*'],
        }),
      });
      expect(created.status).toBe(200);
      const endpoint = (await created.json()) as { secret: string };
      const paid = await fetch(`${server.url}/v1/payments`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ amount: 1234, currency: 'usd', source: 'tok_visa' }),
      });
      const payment = (await paid.json()) as { id: string };
      const deadline = Date.now() + 15_000;
      const isThePayment = (r: { body: string }) => r.body.includes(payment.id);
      while (!received.some(isThePayment) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const hit = received.find(isThePayment);
      expect(hit, 'the webhook arrived').toBeDefined();
      const headers = hit?.headers as IncomingHttpHeaders;
      const event = new Webhook(endpoint.secret).verify(hit?.body as string, {
        'webhook-id': String(headers['webhook-id']),
        'webhook-timestamp': String(headers['webhook-timestamp']),
        'webhook-signature': String(headers['webhook-signature']),
      }) as { type: string; data: { object?: { id: string } } & { id?: string } };
      expect(event.type).toBe('payment.succeeded');
      expect(JSON.stringify(event)).toContain(payment.id);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('the README receiver (examples/webhook-receiver.mjs) verifies a delivery, and its retry carries the same webhook-id', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const auth = { authorization: `Bearer ${printed.secrets[1]}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/v1/webhook_endpoints`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks`, enabled_events: ['payment.*'] }),
    });
    expect(created.status).toBe(200);
    const { secret } = (await created.json()) as { secret: string };
    const receiver = spawn(process.execPath, ['examples/webhook-receiver.mjs'], {
      env: { PATH: process.env['PATH'], WEBHOOK_SECRET: secret, FAIL_FIRST: '1', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    receiver.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const until = async (pattern: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return pattern.exec(output);
    };
    try {
      expect(await until(/listening on/, 10_000)).not.toBeNull();
      await fetch(`${server.url}/v1/payments`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ amount: 500, currency: 'usd', source: 'tok_visa' }),
      });
      const first = await until(
        /payment\.succeeded (evt_\w+) verified \(1 signature\), answered 500/,
        15_000,
      );
      expect(first, output).not.toBeNull();
      // the first retry is due 5 s (±20 %) later
      const again = new RegExp(`payment\\.succeeded ${first?.[1]} verified \\(1 signature\\), answered 200`);
      expect(await until(again, 15_000), output).not.toBeNull();
      expect(output).not.toContain('refused');
    } finally {
      receiver.kill();
    }
  }, 40_000);

  it('keeps every secret out of the server log', () => {
    const logs = server.stdout();
    expect(logs).toContain('"request"');
    for (const secret of printed.secrets) expect(logs).not.toContain(secret);
  });

  it('revokes the previous start’s keys on the next start, and prints no operator key again', async () => {
    await server.stop();
    const before = printed;
    server = await startGatehouse(['--demo'], env);
    printed = parseBanner(server.stderr());
    expect(printed.adminKeyPrinted).toBe(false);
    const old = await fetch(`${server.url}/v1/account`, {
      headers: { authorization: `Bearer ${before.secrets[1]}` },
    });
    expect(old.status).toBe(401);
    const fresh = await fetch(`${server.url}/v1/account`, {
      headers: { authorization: `Bearer ${printed.secrets[0]}` },
    });
    expect(fresh.status).toBe(200);
    // the previous start's event publisher key (an operator key, never printed) is revoked too
    const audit = await fetch(`${server.url}/v1/audit_events?action=admin_key.revoked&limit=10`, {
      headers: { authorization: `Bearer ${before.secrets[0]}` },
    });
    expect(audit.status).toBe(200);
    expect(((await audit.json()) as { data: unknown[] }).data).toHaveLength(1);
    for (const secret of [...before.secrets, ...printed.secrets])
      expect(server.stdout()).not.toContain(secret);
  });
});
