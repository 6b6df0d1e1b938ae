/**
 * DynamoDB's JSON answers as the emulator writes or edits them. The SDK checks `x-amz-crc32` against the body of a
 * DynamoDB answer, so an answer the emulator writes, or one of dynalite's it edits, carries the CRC32 of its new body.
 */
import { crc32 } from 'node:zlib';
import type { ServerResponse } from 'node:http';

/** Answers 200 with `body`, with the headers DynamoDB sends. */
export function answerJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('x-amz-crc32', String(crc32(text)));
  res.end(text);
}

/**
 * Lets `edit` change dynalite's JSON answer (a 200) before it leaves, keeping its length and CRC32 headers right;
 * errors and anything not JSON pass unchanged.
 */
export function rewriteAnswer(res: ServerResponse, edit: (body: Record<string, unknown>) => void): void {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  (res as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
    const [chunk] = args;
    if (res.statusCode !== 200 || (typeof chunk !== 'string' && !Buffer.isBuffer(chunk))) return end(...args);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(chunk.toString()) as Record<string, unknown>;
    } catch {
      return end(...args);
    }
    edit(body);
    const text = JSON.stringify(body);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.setHeader('x-amz-crc32', String(crc32(text)));
    return end(text);
  };
}
