/**
 * Work that runs one at a time and coalesces the calls made meanwhile: a
 * reader of a log or an outbox, woken by every write, reads once more after
 * the read under way instead of once per write.
 *
 * @module
 */

/** Runs `work` one at a time; a call while it runs makes it run once more afterwards. */
export class SerialWork {
  readonly #work: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;

  /** Runs `work`, which must not reject, when {@linkcode run} is called. */
  constructor(work: () => Promise<void>) {
    this.#work = work;
  }

  /** Runs the work now, or once more after the run under way. */
  run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#work().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.run();
      }
    });
  }

  /** Resolves once no run is under way, including the runs asked for meanwhile. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }
}
