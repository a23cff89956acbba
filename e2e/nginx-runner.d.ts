/** The nginx binary on PATH or in the usual sbin directories, or null. */
export function findNginx(): string | null;

/**
 * examples/nginx/gatehouse.conf as shipped, with Gatehouse, the API and nginx itself on the
 * given `host:port`s; throws when the file no longer has the addresses it rewrites.
 */
export function exampleNginxServer(addresses: { listen: string; gatehouse: string; api: string }): string;

export interface RunningNginx {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  accessLog: string;
  errorLog: string;
  /** Graceful stop (SIGQUIT); resolves when nginx has exited. */
  close(): Promise<void>;
}

/**
 * Starts nginx in `root` with one worker and `server(port)` as the http-level configuration on
 * a free port; resolves once nginx answers on the port.
 */
export function startNginx(options: {
  /** the binary, from findNginx() */
  nginx: string;
  /** a directory of its own for nginx.conf, logs, pid and temp directories */
  root: string;
  /** the http-level configuration (upstreams, servers) for the port nginx listens on */
  server: (port: number) => string;
  /** error_log level (default warn) */
  errorLogLevel?: 'debug' | 'info' | 'notice' | 'warn' | 'error';
}): Promise<RunningNginx>;
