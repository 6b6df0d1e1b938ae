import { ApolloServer } from '@apollo/server';
import { typeDefs } from './schema.js';
import { createResolvers, type GraphQLContext } from './resolvers.js';
import type { PartnerService } from '../partners/service.js';
import { TokenError, bearerToken, verifyToken } from '../auth/tokens.js';
import type { AuthConfig } from '../config/env.js';

export function createApolloServer(service: PartnerService): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    typeDefs,
    // Apollo's resolver map type is looser than ours; the shapes match the schema above.
    resolvers: createResolvers(service) as never,
    introspection: true,
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
