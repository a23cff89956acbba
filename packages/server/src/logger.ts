import { redactSecrets } from '@gatehouse/core';
import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * JSON logs with two layers against secrets: structured redaction of the fields that carry
 * them, and a final pass over every line that masks anything shaped like a Gatehouse secret.
 */
export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  const out = options.destination ?? pino.destination({ fd: 1, sync: false });
  const scrubbed: DestinationStream = {
    write(line: string) {
      out.write(redactSecrets(line));
    },
  };
  return pino(
    {
      level: options.level,
      base: { service: 'gatehouse' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["proxy-authorization"]',
          'headers.authorization',
          'secret',
          '*.secret',
          'key',
        ],
        censor: '[REDACTED]',
      },
    },
    scrubbed,
  );
}
