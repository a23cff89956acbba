import type { Caller, Runtime } from '@gatehouse/server';

const DEMO_TAG = 'npm-start';

/**
 * `npm start` bootstrap: a demo account (once), and on every start a fresh test key for it
 * (the previous start's key is revoked, since its secret was printed to a terminal).
 * Returns the lines to print. Secrets are printed here, once, and nowhere else.
 */
export async function bootstrapDemo(rt: Runtime, caller: Caller, url: string): Promise<string[]> {
  const lines: string[] = [];
  const accounts = await rt.accounts.list(caller, { limit: 100 });
  let account = accounts.data.find((a) => a.metadata['demo'] === DEMO_TAG);
  if (!account) {
    account = await rt.accounts.create(caller, { name: 'PayQI demo', metadata: { demo: DEMO_TAG } });
    const admin = await rt.keys.createAdminKey(caller, 'demo operator key');
    lines.push(
      `Created the demo account ${account.id} and an operator key (shown only this once):`,
      `  export GATEHOUSE_ADMIN_KEY=${admin.secret}`,
      '',
    );
  }
  const keys = await rt.keys.list(caller, { limit: 100, account: account.id, mode: 'test' });
  for (const k of keys.data) {
    if (k.metadata['demo'] === DEMO_TAG && k.status !== 'revoked') {
      await rt.keys.revoke(caller, k.id, { reason: 'rotated' });
    }
  }
  const key = await rt.keys.create(caller, {
    account: account.id,
    mode: 'test',
    type: 'secret',
    name: 'demo key (npm start)',
    metadata: { demo: DEMO_TAG },
  });
  lines.push(
    `A test key for the demo account (new on every start; shown only now):`,
    `  export GATEHOUSE_KEY=${key.secret}`,
    '',
    'Try it:',
    `  curl -s ${url}/v1/account -H "Authorization: Bearer $GATEHOUSE_KEY"`,
    `  curl -s ${url}/v1/keys -H "Authorization: Bearer $GATEHOUSE_KEY"`,
    `  curl -s ${url}/v1/keys -H "Authorization: Bearer $GATEHOUSE_KEY" -H 'Content-Type: application/json' \\`,
    `       -d '{"type":"restricted","scopes":["keys:read"],"name":"read-only"}'`,
    '',
    'More keys from the CLI (same database, with or without the server running):',
    `  npx gatehouse keys create --account ${account.id} --mode test --scope keys:read --name read-only`,
    `  npx gatehouse audit verify`,
  );
  return lines;
}
