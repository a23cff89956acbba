/** One line of the request log: what happened, never a body, a secret or a query string. */
export interface RequestLogEntry {
  id: string; // the request id (req_…)
  createdAt: number; // Unix ms when the request arrived
  accountId: string | null;
  keyId: string | null;
  mode: 'test' | 'live' | null;
  method: string;
  /** the path without its query string, or the matched route pattern */
  route: string;
  status: number;
  latencyMs: number;
  clientIp: string | null;
  userAgent: string | null;
  /** the stable error code when the request was refused */
  errorCode: string | null;
}

/** Where the gateway and the API hand their request-log lines; written in batches off the hot path. */
export interface RequestLogSink {
  record(entry: RequestLogEntry): void;
}

/** Drops everything: for tests and tools that need no request log. */
export const discardRequestLog: RequestLogSink = { record() {} };
