/**
 * DynamoDB's answer to a BatchWriteItem it cannot finish (throttling, a busy partition): HTTP 200, some requests
 * applied and the rest returned as `UnprocessedItems`, for the caller to send again. dynalite applies every request,
 * every time; this fault holds part of a batch back as DynamoDB does, so the caller's resubmit loop runs here too.
 */
import type { ServerResponse } from 'node:http';
import { rewriteAnswer } from './jsonAnswer.js';

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

/** Makes `res` answer dynalite's 200 with `heldBack` added to its UnprocessedItems (its errors pass unchanged). */
export function withHeldBack(res: ServerResponse, heldBack: WriteRequests): void {
  rewriteAnswer(res, (answer) => {
    const unprocessed = { ...((answer.UnprocessedItems ?? {}) as WriteRequests) };
    for (const [table, requests] of Object.entries(heldBack)) unprocessed[table] = [...(unprocessed[table] ?? []), ...requests];
    answer.UnprocessedItems = unprocessed;
  });
}
