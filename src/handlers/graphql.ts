import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { handlers, startServerAndCreateLambdaHandler } from '@as-integrations/aws-lambda';
import { createApp } from '../app.js';
import { withMetrics } from '../observability/metrics.js';
import { withLogContext } from '../observability/logger.js';
import { authContext, createApolloServer } from '../graphql/server.js';
import type { GraphQLContext } from '../graphql/resolvers.js';

// Built once per container and reused by warm invocations.
const app = createApp();
const server = createApolloServer(app.partners, { ...app.cfg.graphql, logger: app.logger });

// The integration is CommonJS and types ApolloServer from @apollo/server's CJS build; ours is the ESM build of the
// same class, so TypeScript sees two declarations. At run time it only calls the server's public methods.
const apollo = startServerAndCreateLambdaHandler(server as never, handlers.createAPIGatewayProxyEventV2RequestHandler(), {
  context: async ({ event }): Promise<GraphQLContext> => authContext(event.headers?.authorization, app.cfg.auth),
});

/** Lambda entry for POST /graphql behind an API Gateway HTTP API (payload format 2.0). */
// Log lines carry the invocation's request id and route; metrics (mutations by kind) are flushed once per invocation.
// The integration's handler is async; its type also allows Lambda's callback style, which it never uses, hence the cast.
export const handler = withLogContext(
  withMetrics(
    async (event: APIGatewayProxyEventV2, context: Context) =>
      (await apollo(event, context, () => undefined)) as APIGatewayProxyStructuredResultV2,
  ),
);
