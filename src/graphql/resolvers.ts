import { GraphQLError } from 'graphql';
import { withAuth, type AuthContext } from '../auth/withAuth.js';
import type { PartnerInput, PartnerUpdate } from '../partners/model.js';
import { QueryInputError, type PartnerService } from '../partners/service.js';

export type GraphQLContext = AuthContext;

/** Turns a refused query argument into the standard BAD_USER_INPUT error; anything else stays an internal error. */
async function userInput<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof QueryInputError) throw new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT' } });
    throw error;
  }
}

/** Every field needs an authenticated caller; mutations need the admin role (checked before anything is written). */
export function createResolvers(service: PartnerService) {
  return {
    Query: {
      partner: withAuth((_: unknown, args: { id: string }) => userInput(() => service.getPartner(args.id))),
      partners: withAuth((_: unknown, args: { city?: string; category?: string; limit?: number; nextToken?: string }) =>
        userInput(() => service.listPartners(args)),
      ),
      partnersNear: withAuth((_: unknown, args: { latitude: number; longitude: number; radiusKm: number; limit?: number }) =>
        userInput(() => service.partnersNear(args)),
      ),
    },
    Mutation: {
      createPartner: withAuth(
        (_: unknown, args: { input: PartnerInput; clientMutationId?: string | null }) =>
          service.createPartner(args.input, args.clientMutationId),
        { role: 'admin' },
      ),
      updatePartner: withAuth(
        (_: unknown, args: { id: string; input: PartnerUpdate & { expectedVersion?: number | null } }) =>
          service.updatePartner(args.id, args.input),
        { role: 'admin' },
      ),
      deletePartner: withAuth((_: unknown, args: { id: string }) => service.deletePartner(args.id), { role: 'admin' }),
    },
  };
}
