/**
 * Tells this process's dispatcher that new deliveries were written, so it claims at once
 * instead of at its next poll. Other instances find them by polling.
 */
export class OutboxSignal {
  #waiters: (() => void)[] = [];
  #pending = false;

  notify(): void {
    this.#pending = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves on the next notify (or at once if one came since the last wait), or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve();
      }, ms);
      timer.unref?.();
      this.#waiters.push(done);
    });
  }
}
