import { GraphQLError } from 'graphql';
import type { Principal, Role, TokenError } from './tokens.js';

/** What every resolver gets: who called, or why nobody could be identified. */
export interface AuthContext {
  principal: Principal | undefined;
  authError: TokenError | undefined;
}

type Resolver<TArgs, TResult> = (parent: unknown, args: TArgs, context: AuthContext & Record<string, unknown>, info: unknown) => TResult;

/**
 * Wraps a resolver so it runs only for an authenticated caller with the required role.
 * Refusals are GraphQL errors with Apollo's standard codes, thrown before the resolver can write anything.
 */
export function withAuth<TArgs, TResult>(resolver: Resolver<TArgs, TResult>, options: { role?: Role } = {}): Resolver<TArgs, TResult> {
  return function authorizedResolver(parent, args, context, info) {
    if (!context.principal) {
      throw new GraphQLError(context.authError?.message ?? 'Authentication required', {
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    if (options.role && context.principal.role !== options.role) {
      throw new GraphQLError(`This operation requires the ${options.role} role`, {
        extensions: { code: 'FORBIDDEN' },
      });
    }
    return resolver(parent, args, context, info);
  };
}
