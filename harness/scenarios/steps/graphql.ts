/** `graphql`: one operation on the app's GraphQL endpoint, as a client's token; its answer checked and captured. */
import { capture } from '../interpolate.js';
import { schemaErrorsText, userSchema } from '../loading/validate.js';
import { mismatches } from '../matchers.js';
import { renderMismatch } from '../diff.js';
import { never, StepFailure, type StepKind } from './context.js';

export const graphqlStep: StepKind<'graphql'> = {
  action: 'graphql',
  needsInsides: never,
  changesState: false,
  async run(step, ctx) {
    const token = ctx.tokenOf(step.as);
    const response = await fetch(ctx.target.graphqlUrl, {
      method: 'POST',
      // The step's own headers win (names are case-insensitive: lower-cased so one replaces the other).
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...Object.fromEntries(Object.entries(step.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
      },
      body: JSON.stringify({ query: step.query, variables: step.variables ?? {} }),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const text = await response.text();
    let body: { data?: unknown; errors?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new StepFailure(`the GraphQL endpoint answered ${response.status} with a non-JSON body: ${text.slice(0, 300)}`);
    }
    const expect = step.expect ?? {};
    const problems: string[] = [];
    if (response.status !== (expect.status ?? 200)) problems.push(`HTTP status ${response.status}, expected ${expect.status ?? 200}`);
    if (expect.errors === undefined && body.errors) problems.push(`unexpected errors: ${JSON.stringify(body.errors)}`);
    for (const part of ['data', 'errors'] as const) {
      if (expect[part] === undefined) continue;
      if (mismatches(expect[part], body[part]).length) problems.push(renderMismatch(`response.${part}`, expect[part], body[part]));
    }
    if (expect.schema !== undefined) {
      const validate = userSchema(expect.schema);
      if (!validate(body)) problems.push(`the response does not satisfy expect.schema: ${schemaErrorsText(validate)}`);
    }
    if (problems.length) throw new StepFailure(problems.join('\n'));
    for (const [name, path] of Object.entries(step.capture ?? {})) {
      const value = capture(path, body);
      if (value === undefined) throw new StepFailure(`capture ${name}: ${path} matched nothing in ${JSON.stringify(body).slice(0, 300)}`);
      ctx.captures[name] = value;
    }
  },
};
