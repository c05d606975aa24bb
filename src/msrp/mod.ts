/**
 * Pure MSRP protocol code (RFC 4975, RFC 4976): URIs, message types, the
 * streaming parser, the serializer, chunking, reassembly, reports, status
 * codes and digest authentication. No I/O: bytes in, typed values out.
 *
 * @module
 */

export * from "./status.ts";
export * from "./message.ts";
export * from "./uri.ts";
export * from "./parser.ts";
export * from "./serializer.ts";
export * from "./media_type.ts";
export * from "./chunker.ts";
export * from "./reassembler.ts";
export * from "./report.ts";
export * from "./digest.ts";
