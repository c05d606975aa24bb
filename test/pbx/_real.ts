/**
 * The skip rule of the tests against the real FreeSWITCH (shared/freeswitch,
 * started with `.ci/freeswitch.sh start`): they run when its port on
 * 127.0.0.1 accepts a TCP connection, and are skipped with a printed reason
 * otherwise.
 *
 * @module
 */

/**
 * Resolves with why `file`'s tests are skipped (the reason is printed), or
 * with `undefined` when 127.0.0.1:`port` accepts a connection (8021, the
 * event socket, by default).
 */
export async function skipUnlessReachable(file: string, port = 8021): Promise<string | undefined> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return undefined;
  } catch (error) {
    const reason = (error as Error).message;
    console.log(
      `${file}: skipped, FreeSWITCH is not reachable on 127.0.0.1:${port} (${reason}); ` +
        "start it with .ci/freeswitch.sh start",
    );
    return reason;
  }
}
