/**
 * The app's connection records on a deployed stage (custom.emulator.connectionRecord: a table and the item's key
 * with `{connectionId}`), through DynamoDB's and the management API's own operations. Presence is a consistent
 * GetItem on that key. A client's connection id, which API Gateway tells only the backend, is found as the
 * emulator finds it, by the client's unique User-Agent: the records' keys give the candidate ids (a Scan for the
 * fixed key parts, e.g. sk = META), and the management API's GetConnection gives each one's identity.userAgent.
 */
import { DynamoDBClient, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ApiGatewayManagementApiClient, GetConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';

export interface StageConnectionRecords {
  idOf(userAgent: string): Promise<string | undefined>;
  exists(connectionId: string): Promise<boolean>;
  close(): void;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function stageConnectionRecords(options: {
  region: string;
  table: string;
  key: Record<string, string>;
  /** The management API: the WebSocket URL with https (wss://id.execute-api.region.amazonaws.com/stage). */
  managementEndpoint: string;
}): StageConnectionRecords {
  const dynamodb = new DynamoDBClient({ region: options.region });
  const management = new ApiGatewayManagementApiClient({ region: options.region, endpoint: options.managementEndpoint });
  const keyFor = (connectionId: string): Record<string, AttributeValue> =>
    Object.fromEntries(Object.entries(options.key).map(([k, v]) => [k, { S: v.replace('{connectionId}', connectionId) }]));
  const fixed = Object.entries(options.key).filter(([, v]) => !v.includes('{connectionId}'));
  const [idAttribute, idTemplate] = Object.entries(options.key).find(([, v]) => v.includes('{connectionId}')) ?? [];
  if (!idAttribute || !idTemplate) throw new Error('custom.emulator.connectionRecord.key has no part with {connectionId}');
  const [before, after] = idTemplate.split('{connectionId}').map(escapeRegExp);
  const idPattern = new RegExp(`^${before}(.+)${after}$`);
  const found = new Set<string>();

  async function candidates(): Promise<string[]> {
    const ids: string[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamodb.send(
        new ScanCommand({
          TableName: options.table,
          ConsistentRead: true,
          ProjectionExpression: '#id',
          ExpressionAttributeNames: { '#id': idAttribute!, ...Object.fromEntries(fixed.map(([k], i) => [`#k${i}`, k])) },
          ExclusiveStartKey: start,
          ...(fixed.length
            ? {
                FilterExpression: fixed.map((_, i) => `#k${i} = :v${i}`).join(' AND '),
                ExpressionAttributeValues: Object.fromEntries(fixed.map(([, v], i) => [`:v${i}`, { S: v }])),
              }
            : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const id = idPattern.exec(item[idAttribute!]?.S ?? '')?.[1];
        if (id && !found.has(id)) ids.push(id);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return ids;
  }

  return {
    async idOf(userAgent) {
      for (const id of await candidates()) {
        // A connection that closed since the Scan answers 410 GoneException: not this client's.
        const identity = await management.send(new GetConnectionCommand({ ConnectionId: id })).then(
          (answer) => answer.Identity,
          () => undefined,
        );
        if (identity?.UserAgent === userAgent) {
          found.add(id);
          return id;
        }
      }
      return undefined;
    },
    async exists(connectionId) {
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: options.table, Key: keyFor(connectionId), ConsistentRead: true }),
      );
      return Item !== undefined;
    },
    close() {
      dynamodb.destroy();
      management.destroy();
    },
  };
}
