/**
 * A function's `events` in serverless.yml, as the emulator runs them: `httpApi` routes, `websocket` routes (with a
 * REQUEST authorizer), DynamoDB `stream` and `sqs` event source mappings, with the Serverless Framework's names and
 * defaults.
 */
import { ServerlessConfigError } from './errors.js';
import type { Json } from './variables.js';
import type { HttpApiEventDefinition, SqsEventDefinition, StreamEventDefinition, WebSocketEventDefinition } from './serverless.js';

export interface FunctionEvents {
  httpApiEvents: HttpApiEventDefinition[];
  websocketEvents: WebSocketEventDefinition[];
  streamEvents: StreamEventDefinition[];
  sqsEvents: SqsEventDefinition[];
}

/** `intrinsic` resolves the CloudFormation values events use (ARNs); `name` and `file` locate errors. */
export function functionEvents(
  events: Array<Record<string, Json>>,
  name: string,
  file: string,
  intrinsic: (value: Json, where: string) => string,
): FunctionEvents {
  const httpApiEvents = events
    .filter((e) => e.httpApi)
    .map((e) => {
      const h = e.httpApi;
      if (typeof h === 'string') {
        const [method, path] = h === '*' ? ['*', '/{proxy+}'] : h.split(/\s+/);
        return { method: method.toUpperCase(), path };
      }
      const o = h as Record<string, Json>;
      return { method: String(o.method ?? '*').toUpperCase(), path: String(o.path ?? '/') };
    });
  const websocketEvents = events
    .filter((e) => e.websocket)
    .map((e) => {
      const w = e.websocket;
      if (typeof w === 'string') return { route: w };
      const o = w as Record<string, Json>;
      const def: WebSocketEventDefinition = { route: String(o.route) };
      if (o.routeResponseSelectionExpression) def.routeResponseSelectionExpression = String(o.routeResponseSelectionExpression);
      if (o.authorizer) {
        const a = o.authorizer as string | Record<string, Json>;
        // By name (a function of this service) or by ARN, which only AWS can run: the ARN stands for the name in errors.
        const authName = typeof a === 'string' ? a : String(a.name ?? a.arn);
        const identitySource =
          typeof a === 'string'
            ? ['route.request.header.Auth']
            : ((a.identitySource as string[] | undefined) ?? ['route.request.header.Auth']);
        def.authorizer = { name: authName, identitySource: [identitySource].flat() };
      }
      return def;
    });
  const numberOr = (value: Json, fallback: number): number => (value === undefined || value === null ? fallback : Number(value));
  const streamEvents = events
    .filter((e) => e.stream)
    .map((e): StreamEventDefinition => {
      const o = (typeof e.stream === 'string' ? { arn: e.stream } : e.stream) as Record<string, Json>;
      const where = `functions.${name}.events.stream`;
      if (o.type !== undefined && o.type !== 'dynamodb')
        throw new ServerlessConfigError(`${file}: ${where}: only type: dynamodb is emulated, got ${JSON.stringify(o.type)}`);
      const onFailure = (o.destinations as Record<string, Json> | undefined)?.onFailure;
      const onFailureArn =
        onFailure === undefined
          ? undefined
          : intrinsic(
              typeof onFailure === 'object' && onFailure && 'arn' in onFailure ? (onFailure as Record<string, Json>).arn : onFailure,
              `${where}.destinations.onFailure`,
            );
      // The Serverless Framework names a stream's batching window `batchWindow` (`maximumBatchingWindow` is the sqs
      // event's); the deploy refuses the other spelling, so the emulator does too.
      if (o.maximumBatchingWindow !== undefined)
        throw new ServerlessConfigError(
          `${file}: ${where}: unknown property maximumBatchingWindow (a stream event's batching window is batchWindow)`,
        );
      return {
        arn: intrinsic(o.arn, `${where}.arn`),
        batchSize: numberOr(o.batchSize, 100),
        maximumBatchingWindowSeconds: numberOr(o.batchWindow, 0),
        bisectBatchOnFunctionError: o.bisectBatchOnFunctionError === true,
        reportBatchItemFailures: o.functionResponseType === 'ReportBatchItemFailures',
        maximumRetryAttempts: numberOr(o.maximumRetryAttempts, -1),
        startingPosition: String(o.startingPosition ?? 'TRIM_HORIZON'),
        ...(onFailureArn ? { onFailureArn } : {}),
        enabled: o.enabled !== false,
      };
    });
  const sqsEvents = events
    .filter((e) => e.sqs)
    .map((e): SqsEventDefinition => {
      const o = (typeof e.sqs === 'string' ? { arn: e.sqs } : e.sqs) as Record<string, Json>;
      return {
        arn: intrinsic(o.arn, `functions.${name}.events.sqs.arn`),
        batchSize: numberOr(o.batchSize, 10),
        maximumBatchingWindowSeconds: numberOr(o.maximumBatchingWindow, 0),
        reportBatchItemFailures: o.functionResponseType === 'ReportBatchItemFailures',
        enabled: o.enabled !== false,
      };
    });
  return { httpApiEvents, websocketEvents, streamEvents, sqsEvents };
}
