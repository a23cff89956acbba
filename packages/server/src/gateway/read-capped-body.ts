import type { IncomingMessage } from 'node:http';

/**
 * The whole request body, or null when it is longer than `max` bytes: at once for a declared
 * length, else as soon as the cap is passed; the rest is not read, so the caller answers with
 * `Connection: close`. Rejects when the client goes away before the body is whole.
 */
export function readCappedBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > max) {
      req.resume();
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) {
        chunks.push(chunk);
        return;
      }
      // over the cap: answered at once, nothing more is read (the caller closes the connection)
      chunks.length = 0;
      req.off('data', onData);
      req.pause();
      resolve(null);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client closed the connection before its body was whole'));
    });
  });
}
