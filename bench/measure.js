// Side-by-side measurement: variants run in alternating rounds in the same process, so a noisy
// neighbour slows all of them alike; each variant's figure is the median of its rounds.

/** Runs `fn` (sync or async, called with the iteration index) for about `ms`, returns ops/s. */
export async function opsPerSecond(fn, ms) {
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  const batch = 256;
  for (;;) {
    for (let i = 0; i < batch; i++) {
      const r = fn(n + i);
      if (r !== undefined && typeof r.then === 'function') await r;
    }
    n += batch;
    const now = process.hrtime.bigint();
    if (now >= deadline) return (n * 1e9) / Number(now - start);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/** variants: { name: fn }; returns { name: { opsPerSec, rounds } } */
export async function compare(variants, { rounds = 5, ms = 1000, warmupMs = 300 } = {}) {
  for (const fn of Object.values(variants)) await opsPerSecond(fn, warmupMs);
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) samples[name].push(await opsPerSecond(fn, ms));
  }
  return Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [
      k,
      { opsPerSec: Math.round(median(v)), rounds: v.map(Math.round) },
    ]),
  );
}
