// A local webhook receiver for trying Gatehouse's deliveries: it listens on 127.0.0.1 (port
// PORT, default 9000), verifies every delivery with the npm `standardwebhooks` package and the
// endpoint's secret (WEBHOOK_SECRET, the `whsec_…` Gatehouse returned when the endpoint was
// created), and prints one line per delivery. With FAIL_FIRST=1 it answers 500 to the first
// attempt of each webhook-id, so you can watch Gatehouse retry it with the same id.
//
//   WEBHOOK_SECRET=whsec_… node examples/webhook-receiver.mjs
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret?.startsWith('whsec_')) {
  console.error('set WEBHOOK_SECRET to the endpoint secret (whsec_…)');
  process.exit(2);
}
const port = Number(process.env.PORT ?? 9000);
const failFirst = process.env.FAIL_FIRST === '1';
const verifier = new Webhook(secret);
const seen = new Set();

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const id = String(req.headers['webhook-id']);
    const signatures = String(req.headers['webhook-signature'] ?? '')
      .split(' ')
      .filter(Boolean).length;
    let event;
    try {
      event = verifier.verify(body, {
        'webhook-id': id,
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      });
    } catch (err) {
      console.log(`${id} refused: ${err.message}`);
      res.writeHead(400).end();
      return;
    }
    const first = !seen.has(id);
    seen.add(id);
    const answer = failFirst && first ? 500 : 200;
    console.log(
      `${event.type} ${id} verified (${signatures} signature${signatures === 1 ? '' : 's'}), answered ${answer}`,
    );
    res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer === 200 ? 'ok' : 'try again');
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/hooks`));
