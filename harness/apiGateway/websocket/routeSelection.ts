/**
 * API Gateway's WebSocket route selection: evaluate the routeSelectionExpression against the message body and
 * pick the route with exactly that key, else $default, else nothing (the client is told "Forbidden").
 * Supports `$request.body.a.b` and templates such as `${request.body.type}:${request.body.action}`.
 */
function lookup(body: unknown, path: string[]): string {
  let value: unknown = body;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<string, unknown>)[key];
  }
  // A path that is not found evaluates to an empty string; objects are their JSON.
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The route key the expression produces for `rawBody`, or undefined when the body is not JSON. */
export function evaluateRouteSelection(expression: string, rawBody: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    return undefined;
  }
  const single = /^\$request\.body\.(.+)$/.exec(expression.trim());
  if (single) return lookup(body, single[1].split('.'));
  return expression.replace(/\$\{request\.body\.([^}]+)\}/g, (_m, path: string) => lookup(body, path.split('.')));
}

/** The route a message goes to: exact match on the selected key, then $default, else undefined. */
export function selectRoute(expression: string, rawBody: string, routeKeys: ReadonlySet<string>): string | undefined {
  const selected = evaluateRouteSelection(expression, rawBody);
  if (selected !== undefined && !selected.startsWith('$') && routeKeys.has(selected)) return selected;
  return routeKeys.has('$default') ? '$default' : undefined;
}
