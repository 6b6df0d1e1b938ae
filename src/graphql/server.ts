import { ApolloServer } from '@apollo/server';
import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from '@aws-lambda-powertools/logger';
import { typeDefs } from './schema.js';
import { createResolvers, type GraphQLContext } from './resolvers.js';
import type { PartnerService } from '../partners/service.js';
import { TokenError, bearerToken, verifyToken } from '../auth/tokens.js';
import type { AuthConfig, Config } from '../config/env.js';

/**
 * What a client may see of an error. Every error a client can cause carries its own code (UNAUTHENTICATED,
 * FORBIDDEN, BAD_USER_INPUT, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, …) and keeps its message; anything
 * else is our fault and, outside the emulator (graphql.debug), becomes a bare "Internal server error" — its message
 * can hold table names, file paths or AWS request details — with the real error logged.
 */
export function errorFormatter(debug: boolean, logger: Pick<Logger, 'error'>) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (code !== undefined && code !== ApolloServerErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    logger.error('GraphQL internal error', { error: unwrapResolverError(error) as Error, path: formatted.path });
    if (debug) return formatted;
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ApolloServerErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

export function createApolloServer(
  service: PartnerService,
  options: Config['graphql'] & { logger: Pick<Logger, 'error'> },
): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    typeDefs,
    // Apollo's resolver map type is looser than ours; the shapes match the schema above.
    resolvers: createResolvers(service) as never,
    // Off unless configured: the schema is no secret from the app's own clients, but it is a map for everyone else.
    introspection: options.introspection,
    // Without introspection, "Did you mean …?" suggestions would hand the schema out field by field.
    hideSchemaDetailsFromClientErrors: !options.introspection,
    // Explicit, not Apollo's NODE_ENV guess: stack traces (with file paths) in the emulator only.
    includeStacktraceInErrorResponses: options.debug,
    formatError: errorFormatter(options.debug, options.logger),
  });
}

/** Builds the per-request context: the caller, or the reason the token was refused (reported by withAuth). */
export async function authContext(authorizationHeader: string | undefined, auth: AuthConfig): Promise<GraphQLContext> {
  try {
    return { principal: await verifyToken(bearerToken(authorizationHeader), auth), authError: undefined };
  } catch (error) {
    if (error instanceof TokenError) return { principal: undefined, authError: error };
    throw error;
  }
}
