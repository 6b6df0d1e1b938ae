import { createApp } from '../app.js';
import { withMetrics } from '../observability/metrics.js';
import { withLogContext } from '../observability/logger.js';
import { authContext, createApolloServer } from '../graphql/server.js';
import { createLambdaHandler } from '../graphql/lambdaHttp.js';
import type { GraphQLContext } from '../graphql/resolvers.js';

// Built once per container and reused by warm invocations.
const app = createApp();
const server = createApolloServer(app.partners, { ...app.cfg.graphql, logger: app.logger });

const apollo = createLambdaHandler(server, ({ event }): Promise<GraphQLContext> => authContext(event.headers?.authorization, app.cfg.auth));

/** Lambda entry for POST /graphql behind an API Gateway HTTP API (payload format 2.0). */
// Log lines carry the invocation's request id and route; metrics (mutations by kind) are flushed once per invocation.
export const handler = withLogContext(withMetrics(apollo));
