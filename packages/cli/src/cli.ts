import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { GatehouseError, KEY_MODES, KEY_TYPES, REVOKE_REASONS } from '@gatehouse/contract';
import { parseDuration } from '@gatehouse/core';
import {
  type Caller,
  type Config,
  ConfigError,
  createLogger,
  loadConfig,
  openRuntime,
  type Runtime,
  startServer,
} from '@gatehouse/server';
import { bootstrapDemo, createDemoPublisherKey, startDemoUpstream } from './demo.js';

export const USAGE = `Usage: gatehouse <command> [options]   (add --json for machine-readable output)

  start [--demo]                          serve the API (runs migrations first)
  migrate                                 create or upgrade the database schema
  accounts create --name N [--max-key-age-days D]
  accounts list
  admin-keys create [--name N]            operator key, printed once
  keys create --account A --mode test|live [--type secret|restricted|publishable]
              [--scope S]... [--ip CIDR]... [--name N] [--expires-in 90d]
  keys list --account A [--mode test|live]
  keys get KEY_ID
  keys roll KEY_ID [--grace 24h]          the old key keeps working for the grace period
  keys revoke KEY_ID [--reason compromised|unused|rotated|requested|other]
  keys verify [--file F]                  reads the key from stdin (never from arguments)
  audit verify                            exit 1 when any row was edited, deleted or reordered
  audit export [--output F]               JSON lines

Configuration comes from the same GATEHOUSE_* environment variables as the server.
Exit codes: 0 ok, 1 failed check or error, 2 usage error.`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: async () => {
    if (process.stdin.isTTY)
      throw new UsageError('keys verify reads the key from stdin: gatehouse keys verify < keyfile');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  demo: { type: 'boolean' },
  name: { type: 'string' },
  account: { type: 'string' },
  mode: { type: 'string' },
  type: { type: 'string' },
  scope: { type: 'string', multiple: true },
  ip: { type: 'string', multiple: true },
  'expires-in': { type: 'string' },
  'max-key-age-days': { type: 'string' },
  grace: { type: 'string' },
  reason: { type: 'string' },
  file: { type: 'string' },
  output: { type: 'string' },
} as const;

function cliCaller(): Caller {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return { principal: { kind: 'cli', user }, ip: null, requestId: null };
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of: ${allowed.join(', ')}`);
  }
  return value as T;
}

function duration(value: string, flag: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`--${flag} must be a duration like 45s, 30m, 24h, 90d or 2w`);
  }
}

/** Runs one command; returns the exit code. Never prints a secret except the one it just created. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; args: string[] }>
  >;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.stderr(`gatehouse: ${err instanceof Error ? err.message : 'bad arguments'}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  const [group, action, ...rest] = positionals;
  if (values.help || group === undefined || group === 'help') {
    io.stdout(`${USAGE}\n`);
    return group === undefined && !values.help ? 2 : 0;
  }
  const out = (data: unknown, human: string) =>
    io.stdout(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);

  let config: Config;
  let runtime: Runtime | undefined;
  try {
    config = loadConfig(io.env);
    if (group === 'start') {
      const logger = createLogger({ level: config.logLevel });
      // --demo: the demo payments API on a free loopback port, behind this Gatehouse, sharing a
      // fresh upstream secret that lives only in this process.
      const demo = values.demo
        ? await startDemoUpstream(logger.child({ component: 'payments-api' }), config)
        : undefined;
      if (demo) config = { ...config, upstreamUrl: demo.url, upstreamSecret: demo.secret };
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config, { logger });
      } catch (err) {
        await demo?.close();
        throw err;
      }
      const stop = async () => {
        await server.close();
        await demo?.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const lines = [`Gatehouse is listening on ${server.url}`];
      if (demo) {
        lines.push(...(await bootstrapDemo(server.runtime, cliCaller(), server.url, demo.url)));
        demo.publishTo(server.url, await createDemoPublisherKey(server.runtime, cliCaller()));
      } else lines.push('Create an account and a key:  npx gatehouse accounts create --name "My company"');
      io.stderr(`\n${lines.join('\n')}\n\n`);
      return await new Promise<number>(() => {});
    }
    const logger = createLogger({
      level: 'warn',
      destination: { write: (l: string) => io.stderr(humanLogLine(l)) },
    });
    runtime = await openRuntime(config, logger);
    const caller = cliCaller();
    const key = `${group} ${action ?? ''}`.trim();
    switch (key) {
      case 'migrate':
        out({ object: 'migration', ok: true }, 'Database is up to date.');
        return 0;
      case 'accounts create': {
        if (!values.name) throw new UsageError('accounts create needs --name');
        const maxAge = values['max-key-age-days'];
        const account = await runtime.accounts.create(caller, {
          name: values.name,
          ...(maxAge !== undefined ? { max_key_age_days: Number.parseInt(maxAge, 10) } : {}),
        });
        out(account, `Created account ${account.id} (${account.name})`);
        return 0;
      }
      case 'accounts list': {
        const page = await runtime.accounts.list(caller, { limit: 100 });
        out(
          { object: 'list', data: page.data, has_more: page.hasMore },
          page.data.map((a) => `${a.id}  ${a.name}`).join('\n') || '(no accounts)',
        );
        return 0;
      }
      case 'admin-keys create': {
        const created = await runtime.keys.createAdminKey(caller, values.name ?? null);
        out(
          { object: 'admin_key', ...created },
          `Created operator key ${created.id}. It is shown only this once; store it in a secret manager:\n\n  ${created.secret}\n`,
        );
        return 0;
      }
      case 'keys create': {
        if (!values.account) throw new UsageError('keys create needs --account');
        const mode = oneOf(values.mode, KEY_MODES, 'mode');
        if (!mode) throw new UsageError('keys create needs --mode test|live');
        const type = oneOf(values.type, KEY_TYPES, 'type') ?? (values.scope ? 'restricted' : 'secret');
        const created = await runtime.keys.create(caller, {
          account: values.account,
          mode,
          type,
          ...(values.scope ? { scopes: values.scope } : {}),
          ...(values.ip ? { ip_allowlist: values.ip } : {}),
          ...(values.name ? { name: values.name } : {}),
          ...(values['expires-in']
            ? { expires_in_seconds: duration(values['expires-in'], 'expires-in') }
            : {}),
        });
        out(
          created,
          `Created ${created.type} key ${created.id} (${created.mode}). It is shown only this once:\n\n  ${created.secret}\n`,
        );
        return 0;
      }
      case 'keys list': {
        if (!values.account) throw new UsageError('keys list needs --account');
        const mode = oneOf(values.mode, KEY_MODES, 'mode');
        const page = await runtime.keys.list(caller, { limit: 100, account: values.account, mode });
        const rows = page.data.map(
          (k) =>
            `${k.id}  ${k.hint.padEnd(16)} ${k.type.padEnd(11)} ${k.mode.padEnd(4)} ${k.status.padEnd(8)} ${k.rotation_due ? 'ROTATE ' : ''}${k.name ?? ''}`,
        );
        const header = `${'ID'.padEnd(30)}  ${'HINT'.padEnd(16)} ${'TYPE'.padEnd(11)} MODE ${'STATUS'.padEnd(8)} NAME`;
        out(
          { object: 'list', data: page.data, has_more: page.hasMore },
          rows.length > 0 ? [header, ...rows].join('\n') : '(no keys)',
        );
        return 0;
      }
      case 'keys get': {
        const id = requireId(rest, action);
        const k = await runtime.keys.get(caller, id);
        out(k, `${k.id}  ${k.hint}  ${k.type} ${k.mode} ${k.status}  scopes=${k.scopes.join(',') || '-'}`);
        return 0;
      }
      case 'keys roll': {
        const id = requireId(rest, action);
        const grace = values.grace === undefined ? undefined : duration0(values.grace);
        const next = await runtime.keys.roll(
          caller,
          id,
          grace === undefined ? {} : { grace_period_seconds: grace },
        );
        out(
          next,
          `Rolled ${id} to ${next.id}. The old key ${grace === 0 ? 'is refused from now on' : `keeps working for ${grace ?? 86400} s`}.\nThe new key is shown only this once:\n\n  ${next.secret}\n`,
        );
        return 0;
      }
      case 'keys revoke': {
        const id = requireId(rest, action);
        const reason = oneOf(values.reason, REVOKE_REASONS, 'reason');
        const k = await runtime.keys.revoke(caller, id, reason ? { reason } : {});
        out(k, `Revoked ${k.id} (${k.revoked_reason}). It is refused from now on.`);
        return 0;
      }
      case 'keys verify': {
        const text = values.file ? await readFile(values.file, 'utf8') : await io.stdin();
        const secret = text.trim();
        if (secret === '') throw new UsageError('no key on stdin');
        const result = await runtime.keys.verify(caller, secret, null);
        out(
          result,
          result.valid
            ? `valid: ${result.key?.id ?? 'operator key'} ${result.key ? `(${result.key.account}, ${result.key.mode}, ${result.key.status})` : ''}`
            : `invalid: ${result.reason}`,
        );
        return result.valid ? 0 : 1;
      }
      case 'audit verify': {
        const result = await runtime.audit.verify(caller);
        out(
          result,
          result.valid
            ? `Audit chain intact: ${result.checked} events verified.`
            : `AUDIT CHAIN BROKEN at seq ${result.first_bad_seq}: ${result.problem} (${result.checked} events verified before it)`,
        );
        return result.valid ? 0 : 1;
      }
      case 'audit export': {
        const sink = values.output ? createWriteStream(values.output, { mode: 0o600 }) : undefined;
        let n = 0;
        for await (const event of runtime.audit.export(caller)) {
          const line = `${JSON.stringify(event)}\n`;
          if (sink) {
            if (!sink.write(line)) await new Promise<void>((r) => sink.once('drain', () => r()));
          } else io.stdout(line);
          n++;
        }
        if (sink) {
          await new Promise<void>((resolve, reject) =>
            sink.end((err?: Error | null) => (err ? reject(err) : resolve())),
          );
          io.stderr(`Exported ${n} audit events.\n`);
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown command: ${key}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`gatehouse: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr(`gatehouse: ${err.message}\n`);
      return 2;
    }
    if (err instanceof GatehouseError) {
      if (json)
        io.stdout(
          `${JSON.stringify({ error: { type: err.type, code: err.code, message: err.publicMessage, ...(err.param ? { param: err.param } : {}) } }, null, 2)}\n`,
        );
      else io.stderr(`gatehouse: ${err.publicMessage}${err.param ? ` (${err.param})` : ''} [${err.code}]\n`);
      // a flag's value the API refuses is a usage error; anything else (no such key, a key that
      // is not active) is an error of the command
      return err.code.startsWith('parameter_') ? 2 : 1;
    }
    io.stderr(
      `gatehouse: failed: ${err instanceof Error ? err.name : 'error'}${err instanceof Error && 'code' in err ? ` (${String(err.code)})` : ''}\n`,
    );
    return 1;
  } finally {
    await runtime?.close();
  }
}

/** The CLI's own warnings are for a person: print the message, not the JSON log line. */
function humanLogLine(line: string): string {
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; level?: unknown };
    const level = typeof parsed.level === 'number' && parsed.level >= 50 ? 'error' : 'warning';
    return `gatehouse: ${level}: ${String(parsed.msg ?? '')}\n`;
  } catch {
    return line;
  }
}

function requireId(rest: string[], action: string | undefined): string {
  const id = rest[0];
  if (!id) throw new UsageError(`keys ${action} needs a KEY_ID`);
  return id;
}

function duration0(value: string): number {
  if (/^0+[smhdw]?$/.test(value)) return 0;
  return duration(value, 'grace');
}
