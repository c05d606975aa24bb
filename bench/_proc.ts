/**
 * Child processes of the end-to-end benchmark (`bench/e2e.ts`): `deno run`
 * of a script with its standard output read line by line, each line stamped
 * with the wall-clock time it arrived, so that times taken in different
 * processes can be compared.
 *
 * @module
 */

/** Milliseconds since the Unix epoch, to the microsecond: comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A line a child printed and when it arrived here ({@linkcode epochMs}). */
export interface StampedLine {
  /** The line without its end. */
  readonly text: string;
  /** When it arrived. */
  readonly at: number;
}

/** A running child with its standard output as stamped lines. */
export class Child {
  readonly #process: Deno.ChildProcess;
  readonly #label: string;
  readonly #lines: StampedLine[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  #stderr = "";
  /** Settles with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;

  /** Starts `command args` with `env` added to this process's environment. */
  constructor(label: string, command: string, args: string[], env: Record<string, string> = {}) {
    this.#label = label;
    this.#process = new Deno.Command(command, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = this.#read(this.#process.stdout, (text) => {
      this.#lines.push({ text, at: epochMs() });
    });
    const err = this.#read(this.#process.stderr, (text) => {
      this.#stderr += text + "\n";
    });
    this.status = Promise.all([out, err]).then(() => {
      this.#ended = true;
      this.#wake();
      return this.#process.status;
    });
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async #read(stream: ReadableStream<Uint8Array>, onLine: (text: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const piece of stream) {
      rest += decoder.decode(piece, { stream: true });
      let end;
      while ((end = rest.indexOf("\n")) >= 0) {
        onLine(rest.slice(0, end));
        rest = rest.slice(end + 1);
      }
      this.#wake();
    }
    if (rest !== "") onLine(rest);
  }

  /** The process id. */
  get pid(): number {
    return this.#process.pid;
  }

  /**
   * The `n`-th line (0-based) once it arrives.
   *
   * @throws {Error} when the child ends first, with its standard error.
   */
  async line(n: number): Promise<StampedLine> {
    while (this.#lines.length <= n) {
      if (this.#ended) {
        throw new Error(`${this.#label} ended without line ${n}:\n${this.#stderr.slice(-2000)}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.#lines[n];
  }

  /** The `n`-th line parsed as JSON, with its arrival time. */
  async json<T>(n: number): Promise<T & { arrivedAt: number }> {
    const line = await this.line(n);
    try {
      return { ...JSON.parse(line.text), arrivedAt: line.at };
    } catch {
      throw new Error(`${this.#label} printed ${line.text}`);
    }
  }

  /** Waits for the exit; a failed exit throws with standard error. */
  async done(): Promise<void> {
    const status = await this.status;
    if (!status.success) {
      throw new Error(`${this.#label} exited ${status.code}:\n${this.#stderr.slice(-2000)}`);
    }
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    try {
      this.#process.kill(signal);
    } catch {
      // Already gone.
    }
    await this.status;
  }
}

/** Starts `deno run <denoArgs> <script> <args>` with the Deno running this process. */
export function denoRun(
  label: string,
  script: string,
  args: string[],
  options: { denoArgs?: string[]; env?: Record<string, string> } = {},
): Child {
  return new Child(
    label,
    Deno.execPath(),
    ["run", ...(options.denoArgs ?? []), script, ...args],
    options.env,
  );
}

/** `what`, or the error it failed with; an `Error` too once `guardMs` passed (a hang guard). */
export async function guarded<T>(what: () => Promise<T>, guardMs: number): Promise<T | Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("hang guard expired")), guardMs);
  });
  try {
    return await Promise.race([what(), guard]);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  } finally {
    clearTimeout(timer);
  }
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
