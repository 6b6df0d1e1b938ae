import { MAX_RADIUS_KM } from '../partners/geohash.js';
import { storableNumber } from '../partners/validation.js';
import { TOPICS, type Subscription, type Topic } from './subscriptions.js';

/** A message a client may send on the WebSocket, after validation. */
export type ClientMessage =
  | { type: 'subscribe'; subscription: Subscription }
  | { type: 'unsubscribe'; topics: Topic[] | undefined }
  | { type: 'ping' };

/** Why a message was refused; answered to the client as {"type":"error","code",…}, never a closed socket. */
export class ClientMessageError extends Error {
  override name = 'ClientMessageError';
  constructor(
    readonly code: 'INVALID_JSON' | 'INVALID_MESSAGE' | 'UNKNOWN_TYPE',
    message: string,
  ) {
    super(message);
  }
}

const MAX_CATEGORIES = 20;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function topicsOf(value: unknown, required: boolean): Topic[] | undefined {
  if (value === undefined && !required) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw new ClientMessageError('INVALID_MESSAGE', `data.topics must be a non-empty array of: ${TOPICS.join(', ')}`);
  }
  for (const topic of value) {
    if (typeof topic !== 'string' || !TOPICS.includes(topic as Topic)) {
      throw new ClientMessageError('INVALID_MESSAGE', `Unknown topic ${JSON.stringify(topic)}; known topics: ${TOPICS.join(', ')}`);
    }
  }
  return value as Topic[];
}

function subscriptionOf(data: unknown): Subscription {
  if (!isRecord(data)) throw new ClientMessageError('INVALID_MESSAGE', 'subscribe needs a "data" object with "topics"');
  const subscription: Subscription = { topics: topicsOf(data.topics, true)! };
  if (data.city !== undefined && data.city !== null) {
    if (typeof data.city !== 'string' || !data.city.trim() || data.city.length > 80) {
      throw new ClientMessageError('INVALID_MESSAGE', 'data.city must be a non-empty string of at most 80 characters');
    }
    subscription.city = data.city.trim();
  }
  if (data.categories !== undefined && data.categories !== null) {
    const ok =
      Array.isArray(data.categories) &&
      data.categories.length <= MAX_CATEGORIES &&
      data.categories.every((c) => typeof c === 'string' && c.trim().length > 0 && c.length <= 60);
    if (!ok)
      throw new ClientMessageError('INVALID_MESSAGE', `data.categories must be an array of at most ${MAX_CATEGORIES} non-empty strings`);
    subscription.categories = (data.categories as string[]).map((c) => c.trim());
  }
  if (data.batch !== undefined && data.batch !== null) {
    if (typeof data.batch !== 'boolean') throw new ClientMessageError('INVALID_MESSAGE', 'data.batch must be true or false');
    if (data.batch) subscription.batch = true;
  }
  if (data.near !== undefined && data.near !== null) {
    const near = data.near;
    const ok =
      isRecord(near) &&
      typeof near.latitude === 'number' &&
      Math.abs(near.latitude) <= 90 &&
      typeof near.longitude === 'number' &&
      Math.abs(near.longitude) <= 180 &&
      typeof near.radiusKm === 'number' &&
      near.radiusKm > 0 &&
      near.radiusKm <= MAX_RADIUS_KM;
    if (!ok) {
      throw new ClientMessageError(
        'INVALID_MESSAGE',
        `data.near must be {latitude: -90..90, longitude: -180..180, radiusKm: 0..${MAX_RADIUS_KM}}`,
      );
    }
    // Stored with the subscription rows: numbers DynamoDB would refuse (underflow) are the zero they mean.
    subscription.near = {
      latitude: storableNumber(near.latitude as number),
      longitude: storableNumber(near.longitude as number),
      radiusKm: near.radiusKm as number,
    };
  }
  return subscription;
}

/** Parses and validates a raw WebSocket body. Throws ClientMessageError with a message fit to show the client. */
export function parseClientMessage(body: string | undefined | null): ClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(body ?? '');
  } catch {
    throw new ClientMessageError('INVALID_JSON', 'Messages must be JSON, e.g. {"type":"subscribe","data":{"topics":["partners"]}}');
  }
  if (!isRecord(message) || typeof message.type !== 'string') {
    throw new ClientMessageError('INVALID_MESSAGE', 'A message must be a JSON object with a string "type"');
  }
  switch (message.type) {
    case 'subscribe':
      return { type: 'subscribe', subscription: subscriptionOf(message.data) };
    case 'unsubscribe':
      return { type: 'unsubscribe', topics: isRecord(message.data) ? topicsOf(message.data.topics, false) : undefined };
    case 'ping':
      return { type: 'ping' };
    default:
      throw new ClientMessageError(
        'UNKNOWN_TYPE',
        `Unknown message type ${JSON.stringify(message.type)}; expected subscribe, unsubscribe or ping`,
      );
  }
}
