/**
 * Tells this process's dispatcher that new deliveries were written, so it claims at once
 * instead of at its next poll. Other instances find them by polling.
 */
export class OutboxSignal {
  #waiters: (() => void)[] = [];
  #pending = false;

  notify(): void {
    if (this.#waiters.length === 0) {
      this.#pending = true; // for the next wait
      return;
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Resolves on the next notify (or at once if one came since the last wait), or after `ms`.
   * A caller that stops waiting for another reason aborts `signal`: a wait left behind would
   * take the next notify for itself, and its caller would sleep through it.
   */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      const leave = () => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        done();
      };
      const timer = setTimeout(leave, ms);
      timer.unref?.();
      if (signal?.aborted) return leave();
      signal?.addEventListener('abort', leave, { once: true });
      this.#waiters.push(done);
    });
  }
}
