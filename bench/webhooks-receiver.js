// The local webhook receiver of bench/webhooks-delivery.js, in a process of its own so that it
// does not share the sender's event loop. It answers every POST with 200 and tells the parent
// over IPC when it has seen the number of requests asked for, with the arrival time (epoch ms,
// sub-millisecond) of each webhook-id when asked.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';

let count = 0;
let target = Number.POSITIVE_INFINITY;
let keepArrivals = false;
const arrivals = {};
const now = () => performance.timeOrigin + performance.now();

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    count++;
    if (keepArrivals) arrivals[String(req.headers['webhook-id'])] = now();
    res.writeHead(200).end();
    if (count >= target) {
      target = Number.POSITIVE_INFINITY;
      process.send({ type: 'reached', count });
    }
  });
});

process.on('message', (m) => {
  if (m.type === 'reset') {
    count = 0;
    target = Number.POSITIVE_INFINITY;
    keepArrivals = Boolean(m.arrivals);
    for (const k of Object.keys(arrivals)) delete arrivals[k];
    process.send({ type: 'reset' });
  } else if (m.type === 'until') {
    if (count >= m.n) process.send({ type: 'reached', count });
    else target = m.n;
  } else if (m.type === 'cpu') {
    process.send({ type: 'cpu', usage: process.cpuUsage() });
  } else if (m.type === 'arrivals') {
    process.send({ type: 'arrivals', arrivals });
  } else if (m.type === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
