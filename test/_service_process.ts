/**
 * The service (`src/main.ts`) as a child process on loopback, for tests that
 * must kill or restart it: free ports, a wait for `/healthz`, and requests
 * to its API.
 *
 * @module
 */

import { type ApiClient, apiClient } from "./_api_client.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;

/** Largest wait for the service to answer `/healthz`: a hang guard, not a timing check. */
const START_GUARD_MS = 60_000;

/**
 * A port on 127.0.0.1 that was free a moment ago. Two calls may give the
 * same port: use {@linkcode freePorts} for several.
 */
export function freePort(): number {
  return freePorts(1)[0];
}

/** `count` distinct ports on 127.0.0.1 that were free a moment ago. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => l.addr.port);
  for (const l of listeners) l.close();
  return ports;
}

/** A running service process. */
export interface ServiceProcess extends ApiClient, AsyncDisposable {
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Its HTTP port. */
  readonly httpPort: number;
  /**
   * When it serves HTTPS (`HTTP_TLS_CERT`): a client trusting that
   * certificate, to pass as `fetch`'s `client` (the {@linkcode ApiClient}
   * methods speak plain `fetch` and do not use it). Closed on dispose.
   */
  readonly httpClient: Deno.HttpClient | undefined;
  /** Sends `signal` and waits for the process to end. */
  kill(signal: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Starts `src/main.ts` with `env` (which must give `HTTP_PORT`; ESL off and
 * error-level logs unless `env` says otherwise) and waits until `/healthz`
 * answers (over HTTPS, trusting the certificate itself, when `env` gives
 * `HTTP_TLS_CERT`). `denoArgs` go before the script (e.g. `--cpu-prof` for a
 * benchmark). Dispose stops it with SIGTERM when it still runs.
 */
export async function startService(
  env: Record<string, string>,
  denoArgs: readonly string[] = [],
): Promise<ServiceProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...denoArgs, MAIN],
    env: { ESL_MODE: "off", LOG_LEVEL: "error", HTTP_HOST: "127.0.0.1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then((s) => exited = s);
  const httpClient = env.HTTP_TLS_CERT
    ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(env.HTTP_TLS_CERT)] })
    : undefined;
  const url = `${httpClient ? "https" : "http"}://127.0.0.1:${env.HTTP_PORT}`;
  const deadline = Date.now() + START_GUARD_MS;
  const healthy = () =>
    fetch(`${url}/healthz`, { client: httpClient }).then(async (r) => {
      await r.body?.cancel();
      return r.ok;
    }, () => false);
  while (!await healthy()) {
    if (exited) {
      httpClient?.close();
      throw new Error(`the service exited with code ${exited.code} while starting`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await status;
      httpClient?.close();
      throw new Error("the service did not answer /healthz");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const kill = async (signal: Deno.Signal) => {
    if (!exited) child.kill(signal);
    await status;
    return exited!;
  };
  return {
    ...apiClient(url, env.API_TOKEN),
    child,
    httpPort: Number(env.HTTP_PORT),
    httpClient,
    kill,
    async [Symbol.asyncDispose]() {
      await kill("SIGTERM");
      httpClient?.close();
    },
  };
}
