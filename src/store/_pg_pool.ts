/**
 * The PostgreSQL connection pool of the store (the `postgres` client) and
 * the types of the places statements run.
 *
 * @module
 */

import postgres from "postgres";

/**
 * int8 (`BIGINT`, what `COUNT` returns) and numeric (what `SUM` over
 * `BIGINT` returns) as numbers, as SQLite gives them: milliseconds, byte
 * counts and row positions stay far below 2^53. The client's default is
 * strings.
 */
const NUMBERS = {
  bigint: {
    to: 20,
    from: [20, 1700],
    serialize: (x: number) => String(x),
    parse: (x: string) => Number(x),
  },
};

/** The pool. */
export type Pool = postgres.Sql<{ bigint: number }>;

/** Where statements run: the pool, or the connection of one transaction. */
export type Query = postgres.ISql<{ bigint: number }>;

/** Values of a row to insert or columns to set: what the store writes. */
export type Values = Record<string, string | number | null>;

/**
 * A pool of up to `max` connections to `url`, connecting on first use,
 * quiet about notices.
 */
export function connect(url: string, max: number): Pool {
  return postgres(url, {
    max,
    types: NUMBERS,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: "msrp-bridge" },
  });
}
