import { SignJWT, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { AuthConfig } from '../config/env.js';

export type Role = 'user' | 'admin';
export const ROLES: readonly Role[] = ['user', 'admin'];

export interface Principal {
  userId: string;
  role: Role;
}

/** Why a token was refused: `invalid` (bad signature, expired, malformed) or `forbidden` (valid but unusable). */
export class TokenError extends Error {
  override name = 'TokenError';
  constructor(
    message: string,
    readonly reason: 'missing' | 'invalid' | 'expired' | 'forbidden',
  ) {
    super(message);
  }
}

const jwksByUrl = new Map<string, JWTVerifyGetKey>();

function verificationKey(auth: AuthConfig): Uint8Array | JWTVerifyGetKey {
  if (auth.kind === 'hs256') return auth.secret;
  let jwks = jwksByUrl.get(auth.jwksUrl.href);
  if (!jwks) {
    jwks = createRemoteJWKSet(auth.jwksUrl);
    jwksByUrl.set(auth.jwksUrl.href, jwks);
  }
  return jwks;
}

/**
 * Verifies a JWT and returns who it names: HS256 with JWT_SECRET, or RS256/ES256 from a JWKS in production.
 * Beyond the signature: `exp` is required (a token without one would be valid forever), the lifetime is capped
 * (`exp − iat` and `exp − now`, so a back-dated `iat` does not help), clocks may disagree by the configured skew
 * only, and `iss`/`aud` must match where configured (always with a JWKS).
 */
export async function verifyToken(token: string | undefined | null, auth: AuthConfig, now: () => number = Date.now): Promise<Principal> {
  if (!token) throw new TokenError('A token is required', 'missing');
  let payload: JWTPayload;
  try {
    const key = verificationKey(auth);
    const options: JWTVerifyOptions = {
      algorithms: auth.kind === 'hs256' ? ['HS256'] : ['RS256', 'ES256'],
      requiredClaims: ['exp'],
      clockTolerance: auth.clockSkewSeconds,
      currentDate: new Date(now()),
      ...(auth.issuer ? { issuer: auth.issuer } : {}),
      ...(auth.audience ? { audience: auth.audience } : {}),
    };
    // jose types the two overloads separately; both are the same call.
    payload = typeof key === 'function' ? (await jwtVerify(token, key, options)).payload : (await jwtVerify(token, key, options)).payload;
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new TokenError('The token has expired', 'expired');
    throw new TokenError(`The token is invalid: ${(error as Error).message}`, 'invalid');
  }
  checkLifetime(payload, auth, Math.floor(now() / 1000));
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new TokenError('The token has no subject (sub)', 'invalid');
  if (payload.sub.length > MAX_SUBJECT_LENGTH)
    throw new TokenError(`The token's subject is longer than ${MAX_SUBJECT_LENGTH} characters`, 'invalid');
  const role = payload.role;
  if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
    throw new TokenError(`The token's role must be one of ${ROLES.join(', ')}`, 'forbidden');
  }
  return { userId: payload.sub, role: role as Role };
}

/** The subject becomes a DynamoDB key attribute (the per-user connection counter): keep it well inside 2 KB. */
const MAX_SUBJECT_LENGTH = 256;

function checkLifetime(payload: JWTPayload, auth: AuthConfig, nowSeconds: number): void {
  const exp = payload.exp!; // required above, and a number (jose checks the type)
  const limit = auth.maxLifetimeSeconds + auth.clockSkewSeconds;
  if (exp - nowSeconds > limit) {
    throw new TokenError(`The token is valid for longer than the maximum lifetime of ${auth.maxLifetimeSeconds} s`, 'invalid');
  }
  if (typeof payload.iat === 'number' && exp - payload.iat > limit) {
    throw new TokenError(`The token's lifetime (exp − iat) exceeds the maximum of ${auth.maxLifetimeSeconds} s`, 'invalid');
  }
}

/** Signs an HS256 development token. Production tokens come from the identity provider, not from here. */
export async function signDevelopmentToken(
  claims: { sub: string; role: Role; [claim: string]: unknown },
  secret: string,
  expiresIn: string | number = '12h',
): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** "Bearer abc" → "abc"; also accepts a bare token. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return (match ? match[1] : header).trim() || undefined;
}
