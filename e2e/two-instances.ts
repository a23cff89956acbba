import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';

/** How often instance B is asked while a change propagates (ms). */
export const POLL_MS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The status of `GET /v1/account` with `key` on the instance at `url`. */
export async function accountStatus(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/v1/account`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return res.status;
}

export async function post(url: string, key: string, path: string, body: unknown) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * Sends `change` to instance A and polls instance B every ~POLL_MS until `secret` is refused
 * (`probe` asks B). Returns milliseconds from sending the change, and from A's answer, to B's
 * first 401.
 */
export async function propagation(
  b: string,
  secret: string,
  change: () => Promise<{ status: number }>,
  probe: (url: string, key: string) => Promise<number> = accountStatus,
): Promise<{ fromRequest: number; fromAnswer: number }> {
  const sent = performance.now();
  let answered = Number.NaN;
  const changed = change().then((r) => {
    answered = performance.now();
    return r;
  });
  let refusedAt = Number.NaN;
  while (performance.now() - sent < 5000) {
    if ((await probe(b, secret)) === 401) {
      refusedAt = performance.now();
      break;
    }
    await sleep(POLL_MS);
  }
  expect((await changed).status).toBe(200);
  if (Number.isNaN(refusedAt)) throw new Error('instance B never refused the key');
  return { fromRequest: refusedAt - sent, fromAnswer: Math.max(0, refusedAt - answered) };
}
