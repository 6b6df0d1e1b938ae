/**
 * DynamoDB's answer to a BatchWriteItem it cannot finish (throttling, a busy partition): HTTP 200, some requests
 * applied and the rest returned as `UnprocessedItems`, for the caller to send again. dynalite applies every request,
 * every time; this fault holds part of a batch back as DynamoDB does, so the caller's resubmit loop runs here too.
 */
import { crc32 } from 'node:zlib';
import type { ServerResponse } from 'node:http';

type WriteRequests = Record<string, unknown[]>;

/**
 * Splits a BatchWriteItem's RequestItems: the later half of each table's requests (at least one) are held back, the
 * rest sent on. `forwarded` is undefined when nothing is left to send.
 */
export function holdBackHalf(requestItems: WriteRequests): { forwarded?: WriteRequests; heldBack: WriteRequests } {
  const forwarded: WriteRequests = {};
  const heldBack: WriteRequests = {};
  for (const [table, requests] of Object.entries(requestItems)) {
    const kept = Math.floor(requests.length / 2);
    if (kept > 0) forwarded[table] = requests.slice(0, kept);
    heldBack[table] = requests.slice(kept);
  }
  return { ...(Object.keys(forwarded).length ? { forwarded } : {}), heldBack };
}

/** The JSON answer, with the headers DynamoDB sends and the SDK checks (its CRC32 included). */
export function answerJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('x-amz-crc32', String(crc32(text)));
  res.end(text);
}

/** Makes `res` answer dynalite's 200 with `heldBack` added to its UnprocessedItems (its errors pass unchanged). */
export function withHeldBack(res: ServerResponse, heldBack: WriteRequests): void {
  const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
  res.end = ((chunk?: unknown) => {
    res.end = end as ServerResponse['end'];
    if (res.statusCode !== 200 || chunk === undefined) return end(chunk);
    const answer = JSON.parse(Buffer.from(chunk as string | Uint8Array).toString('utf8')) as { UnprocessedItems?: WriteRequests };
    const unprocessed: WriteRequests = { ...(answer.UnprocessedItems ?? {}) };
    for (const [table, requests] of Object.entries(heldBack)) unprocessed[table] = [...(unprocessed[table] ?? []), ...requests];
    answerJson(res, { ...answer, UnprocessedItems: unprocessed });
    return res;
  }) as ServerResponse['end'];
}
