/**
 * The skip rule of the tests against the real FreeSWITCH, kept here for
 * the tests that import it from this path; it lives in `test/_services.ts`.
 *
 * @module
 */

export { skipUnlessReachable } from "../_services.ts";
