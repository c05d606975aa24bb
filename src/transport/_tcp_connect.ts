/**
 * TCP connection setup with a deadline.
 *
 * @module
 */

import { TransportError } from "./errors.ts";

/** The `connect-timeout` error for `hostname`:`port`. */
export function connectTimeout(
  hostname: string,
  port: number,
  timeoutMs: number,
  cause?: unknown,
): TransportError {
  return new TransportError(
    "connect-timeout",
    `connecting to ${hostname} port ${port} took longer than ${timeoutMs} ms`,
    { cause },
  );
}

/**
 * Opens a TCP connection, giving up after `timeoutMs`.
 *
 * @throws {TransportError} `connect-timeout`; or Deno's error, e.g. `ConnectionRefused`.
 */
export async function connectTcp(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port, signal: controller.signal });
  } catch (e) {
    throw controller.signal.aborted ? connectTimeout(hostname, port, timeoutMs, e) : e;
  } finally {
    clearTimeout(timer);
  }
  if (controller.signal.aborted) {
    // The deadline passed just as the connection was made; the abort may have closed it.
    conn[Symbol.dispose]();
    throw connectTimeout(hostname, port, timeoutMs);
  }
  return conn;
}
