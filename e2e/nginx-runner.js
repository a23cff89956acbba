// One way to run a throw-away nginx, shared by e2e/nginx.test.ts and bench/gateway.js. Plain
// ESM JavaScript (types in nginx-runner.d.ts) so the benchmark imports it under plain node.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const EXAMPLE = new URL('../examples/nginx/gatehouse.conf', import.meta.url);

/** The nginx binary on PATH or in the usual sbin directories, or null. */
export function findNginx() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return null;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * examples/nginx/gatehouse.conf as shipped, with Gatehouse, the API and nginx itself on the
 * given `host:port`s; throws when the file no longer has the addresses it rewrites.
 */
export function exampleNginxServer({ listen, gatehouse, api }) {
  let server = readFileSync(EXAMPLE, 'utf8');
  for (const [from, to] of [
    ['server 127.0.0.1:8080;', `server ${gatehouse};`],
    ['server 127.0.0.1:3000;', `server ${api};`],
    ['listen 127.0.0.1:8000;', `listen ${listen};`],
  ]) {
    if (!server.includes(from)) throw new Error(`examples/nginx/gatehouse.conf no longer has "${from}"`);
    server = server.replace(from, to);
  }
  return server;
}

/**
 * Starts nginx in `root` (created if needed; its nginx.conf, logs, pid and temp directories go
 * there) with one worker, `server(port)` as the http-level configuration on a free port, and
 * keep-alive connections held past nginx's default of 1,000 requests (which a load generator
 * counts as errors). Resolves once nginx answers on the port.
 */
export async function startNginx({ nginx, root, server, errorLogLevel = 'warn' }) {
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => {
      mkdirSync(join(root, name), { recursive: true });
      return `    ${name}_temp_path ${join(root, name)};`;
    })
    .join('\n');
  const accessLog = join(root, 'access.log');
  const errorLog = join(root, 'error.log');
  const conf = join(root, 'nginx.conf');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
error_log ${errorLog} ${errorLogLevel};
events { worker_connections 1024; }
http {
    access_log ${accessLog};
    keepalive_requests 10000000;
${temp}
${server(port)}
}
`,
  );
  const args = ['-p', root, '-e', errorLog, '-c', conf];
  execFileSync(nginx, ['-t', ...args], { stdio: 'pipe' });
  const proc = spawn(nginx, [...args, '-g', `daemon off; pid ${join(root, 'nginx.pid')};`], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}; see ${errorLog}`);
    try {
      await fetch(`${url}/`);
      break;
    } catch (err) {
      if (i > 200) {
        proc.kill('SIGKILL');
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    url,
    port,
    accessLog,
    errorLog,
    close: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGQUIT');
      }),
  };
}
