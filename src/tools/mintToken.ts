/**
 * Mints a development token: `npm run token -- --sub alice --role admin [--expires 12h]`.
 * Signs with JWT_SECRET (HS256), the secret `npm run emulate` prints; never use it for production tokens.
 */
import { parseArgs } from 'node:util';
import { ROLES, signDevelopmentToken, type Role } from '../auth/tokens.js';

export const DEVELOPMENT_JWT_SECRET = 'perkup-dev-secret-change-me';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'dev-user' },
    role: { type: 'string', default: 'user' },
    expires: { type: 'string', default: '12h' },
  },
  strict: true,
});

if (!ROLES.includes(values.role as Role)) {
  console.error(`--role must be one of ${ROLES.join(', ')}, got "${values.role}"`);
  process.exit(2);
}
const secret = process.env.JWT_SECRET || DEVELOPMENT_JWT_SECRET;
console.log(await signDevelopmentToken({ sub: values.sub!, role: values.role as Role }, secret, values.expires));
