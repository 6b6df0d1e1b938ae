/**
 * A REQUEST Lambda authorizer on `$connect`: identity sources checked first (missing → 401 without calling it),
 * then the policy it returns (any Deny → 403; `Unauthorized` thrown → 401), and its context, capped at 8 KB,
 * carried on every later event of the connection.
 */
import type { IncomingMessage } from 'node:http';
import type { Invoke } from '../../lambda/types.js';
import { websocketApiLimits } from '../../common/awsDefaults.js';
import { authorizerEvent, type ApiIdentity, type ConnectionFacts, type HandshakeRequest } from './events.js';
import type { Refusal } from './handshake.js';

export interface AuthorizerSettings {
  functionName: string;
  /** e.g. `route.request.querystring.token`, `route.request.header.Auth`. */
  identitySource: string[];
}

function identitySourceValue(source: string, request: Pick<IncomingMessage, 'headers'>, query: URLSearchParams): string | undefined {
  const header = /^route\.request\.header\.(.+)$/i.exec(source);
  if (header) return request.headers[header[1].toLowerCase()] as string | undefined;
  const qs = /^route\.request\.querystring\.(.+)$/i.exec(source);
  if (qs) return query.get(qs[1]) ?? undefined;
  return undefined;
}

interface Policy {
  principalId?: string;
  policyDocument?: { Statement?: Array<{ Effect?: string }> };
  context?: Record<string, unknown>;
}

/** Runs the authorizer; on success stores its context in `facts.authorizer` and answers undefined. */
export async function authorize(
  settings: AuthorizerSettings,
  invoke: Invoke,
  call: {
    api: ApiIdentity;
    facts: ConnectionFacts;
    request: Pick<IncomingMessage, 'headers'>;
    handshake: HandshakeRequest;
    now: number;
    accountId: string;
  },
): Promise<Refusal | undefined> {
  const query = new URLSearchParams(call.handshake.query);
  if (settings.identitySource.some((source) => !identitySourceValue(source, call.request, query)))
    return { status: 401, message: 'Unauthorized' };
  const event = authorizerEvent(call.api, call.facts, call.handshake, call.now, call.accountId);
  const result = await invoke(settings.functionName, event, '$connect authorizer');
  if (!result.ok) {
    return result.error.message === 'Unauthorized'
      ? { status: 401, message: 'Unauthorized' }
      : { status: 500, message: 'Internal server error' };
  }
  const policy = result.value as Policy | null;
  const statements = policy?.policyDocument?.Statement ?? [];
  if (!statements.length || statements.some((s) => s.Effect !== 'Allow')) return { status: 403, message: 'Forbidden' };
  const context = { ...(policy?.context ?? {}), principalId: policy?.principalId };
  if (Buffer.byteLength(JSON.stringify(context)) > websocketApiLimits.maxAuthorizerContextBytes)
    return { status: 500, message: 'Internal server error' };
  call.facts.authorizer = context;
  return undefined;
}
