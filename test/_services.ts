/**
 * The one skip rule of the tests that need something outside the repository:
 * the real FreeSWITCH (`.ci/freeswitch.sh start`), the Kamailio MSRP relay
 * (`../shared/relay/start-relay.sh`, `RELAY_URI` / `RELAY_TLS_URI`),
 * Debian's Chromium (`.ci/chromium.sh`) and the shared files beside the
 * clone. A test module asks once at load time; when the service is missing
 * it prints one line and its tests are ignored:
 *
 * ```ts
 * const skip = await skipUnlessReachable("freeswitch_real_test");
 * Deno.test({ name: "...", ignore: skip !== undefined, fn() {} });
 * ```
 *
 * With `REQUIRE_SERVICES=1` (set by `.ci/run`) every helper throws instead,
 * so the module fails naming the missing service rather than passing quietly.
 *
 * @module
 */

/** Where Debian's package puts Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

const REPO = new URL("../", import.meta.url);

/** The MSRP relay `.ci/run` starts, when `RELAY_URI` is not set. */
export const DEFAULT_RELAY_URI = "msrp://127.0.0.1:2856;tcp";

// REQUIRE_SERVICES=1: a missing service fails instead of skipping.
function servicesRequired(): boolean {
  return Deno.env.get("REQUIRE_SERVICES") === "1";
}

/**
 * The decision for `file`'s tests that need `service`: `undefined` when
 * `problem` is `undefined` (the service is there). Otherwise prints
 * `<file>: skipped, <service> <problem>; <hint>` as one line and returns
 * that line, or throws it under `REQUIRE_SERVICES=1`.
 */
export function skipUnless(
  file: string,
  service: string,
  problem: string | undefined,
  hint: string,
): string | undefined {
  if (problem === undefined) return undefined;
  const what = `${service} ${problem}`;
  if (servicesRequired()) {
    throw new Error(`${file}: REQUIRE_SERVICES=1 but ${what}; ${hint}`);
  }
  const line = `${file}: skipped, ${what}; ${hint}`;
  console.log(line);
  return line;
}

/** Why `hostname`:`port` does not accept a TCP connection, or `undefined` when it does. */
export async function tcpProblem(hostname: string, port: number): Promise<string | undefined> {
  try {
    (await Deno.connect({ hostname, port })).close();
    return undefined;
  } catch (error) {
    return `is not reachable on ${hostname}:${port} (${(error as Error).message})`;
  }
}

/**
 * The skip rule of the tests against the real FreeSWITCH: `undefined` when
 * `hostname`:`port` accepts a connection (127.0.0.1:8021, the event socket,
 * by default), else the printed skip line (see {@linkcode skipUnless}).
 */
export async function skipUnlessReachable(
  file: string,
  port = 8021,
  hostname = "127.0.0.1",
): Promise<string | undefined> {
  return skipUnless(
    file,
    "FreeSWITCH",
    await tcpProblem(hostname, port),
    "start it with .ci/freeswitch.sh start",
  );
}

/**
 * The skip rule of tests that stop and start the real FreeSWITCH with
 * `.ci/freeswitch.sh`: they need it running and its package (`FS_PACKAGE`,
 * default `../shared/freeswitch` beside the clone) to start it again.
 */
export async function skipUnlessRestartable(file: string): Promise<string | undefined> {
  const skip = await skipUnlessReachable(file);
  if (skip !== undefined) return skip;
  const pkg = Deno.env.get("FS_PACKAGE") ?? sharedUrl("freeswitch").pathname;
  return skipUnless(
    file,
    "the FreeSWITCH package",
    await pathProblem(`${pkg.replace(/\/$/, "")}/install.sh`),
    ".ci/freeswitch.sh needs it to start FreeSWITCH again after the test stops it",
  );
}

/**
 * The skip rule of the tests against the MSRP relay at `uri` (an
 * `msrp://` or `msrps://` URI with an IP or name and a port): `undefined`
 * when it accepts a connection, else the printed skip line.
 */
export async function skipUnlessRelay(
  file: string,
  uri: string,
  service = "the MSRP relay",
): Promise<string | undefined> {
  const m = /^msrps?:\/\/([^:/;]+):(\d+)/.exec(uri);
  const problem = m ? await tcpProblem(m[1], Number(m[2])) : `has no host and port in ${uri}`;
  return skipUnless(file, service, problem, "start it with ../shared/relay/start-relay.sh");
}

/**
 * The skip rule of the tests against the relay's TLS listener: needs
 * `RELAY_TLS_URI` and `RELAY_TLS_CERT` (printed by start-relay.sh unless
 * `RELAY_NO_TLS=1`) and the listener reachable.
 */
export async function skipUnlessRelayTls(file: string): Promise<string | undefined> {
  const service = "the MSRP relay's TLS listener";
  const missing = ["RELAY_TLS_URI", "RELAY_TLS_CERT"].filter((name) => !Deno.env.get(name));
  if (missing.length > 0) {
    return skipUnless(
      file,
      service,
      `is not configured (${missing.join(", ")} not set)`,
      "export what ../shared/relay/start-relay.sh prints, without RELAY_NO_TLS=1",
    );
  }
  return await skipUnlessRelay(file, Deno.env.get("RELAY_TLS_URI")!, service);
}

/** The skip rule of the browser tests: `undefined` when {@linkcode CHROMIUM} is installed. */
export async function skipUnlessChromium(file: string): Promise<string | undefined> {
  return skipUnless(
    file,
    "Chromium",
    await pathProblem(CHROMIUM),
    "bash .ci/chromium.sh installs it",
  );
}

/**
 * The skip rule of tests that compare the repository with the shared files
 * beside the clone: `undefined` when the directory `../shared/<dir>` exists.
 */
export async function skipUnlessShared(file: string, dir: string): Promise<string | undefined> {
  return skipUnless(
    file,
    `../shared/${dir}`,
    await pathProblem(sharedUrl(dir).pathname, "directory"),
    "the comparison needs the project's shared directory beside the clone",
  );
}

/** The URL of `../shared/<dir>/` beside the repository. */
export function sharedUrl(dir: string): URL {
  return new URL(`../shared/${dir}/`, REPO);
}

/** Why `path` is not a `kind`, or `undefined` when it is. */
async function pathProblem(
  path: string,
  kind: "file" | "directory" = "file",
): Promise<string | undefined> {
  try {
    const info = await Deno.stat(path);
    if (kind === "file" ? info.isFile : info.isDirectory) return undefined;
    return `is missing (${path} is not a ${kind})`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `is missing (no ${path})`;
    return `is missing (${path}: ${(error as Error).message})`;
  }
}
