#!/usr/bin/env node
// `npm run bench -- <name>`: runs benchmarks side by side with their baselines in one process
// run, and writes bench/results/<name>.json. See bench/README.md for the latest table.
import { writeFileSync } from 'node:fs';

const suites = {
  gateway: () => import('./gateway.js'),
  keys: () => import('./keys.js'),
  revocation: () => import('./revocation.js'),
  'webhooks-delivery': () => import('./webhooks-delivery.js'),
  'webhooks-verify': () => import('./webhooks-verify.js'),
  // issue 5's two figures in one run: the SDK verifier, then outbox delivery
  webhooks: async () => {
    const parts = {
      verify: await import('./webhooks-verify.js'),
      delivery: await import('./webhooks-delivery.js'),
    };
    return {
      async run() {
        const verify = await parts.verify.run();
        const delivery = await parts.delivery.run();
        return { verify, delivery, markdown: `${verify.markdown}\n\n${delivery.markdown}` };
      },
    };
  },
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = names.length > 0 ? names : Object.keys(suites);
for (const name of selected) {
  const load = suites[name];
  if (!load) {
    console.error(`unknown benchmark: ${name} (have: ${Object.keys(suites).join(', ')})`);
    process.exit(2);
  }
  const { run } = await load();
  const result = await run();
  const file = new URL(`./results/${name}.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(result.markdown);
}
