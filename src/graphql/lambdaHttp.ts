import { HeaderMap, type ApolloServer, type BaseContext, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/**
 * Apollo Server behind an API Gateway HTTP API (payload format 2.0), as @as-integrations/aws-lambda does it and
 * with the same answers. We stopped using that package because it is CommonJS and requires @apollo/server itself,
 * which loads Apollo's CommonJS build beside the ES module build this code imports: two copies of Apollo Server
 * initialised on every cold start (~50 ms here) and bundled twice into the deployed function. Using `HeaderMap`
 * from the one build we import keeps a single copy.
 */

/** The request Apollo executes. Throws on a JSON body that does not parse (createLambdaHandler answers 400). */
function httpGraphQLRequest(event: APIGatewayProxyEventV2): HTTPGraphQLRequest {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(event.headers ?? {})) headers.set(name, value ?? '');
  return { method: event.requestContext.http.method, headers, search: event.rawQueryString ?? '', body: bodyOf(event, headers) };
}

/** JSON bodies parsed, text/plain kept as text; any other content type is no body (Apollo then answers 400). */
function bodyOf(event: APIGatewayProxyEventV2, headers: HeaderMap): unknown {
  if (!event.body) return '';
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const contentType = headers.get('content-type');
  if (contentType?.startsWith('application/json')) return JSON.parse(text);
  if (contentType?.startsWith('text/plain')) return text;
  return '';
}

/** Apollo's answer as Lambda's result. Only complete bodies: this API has no incremental delivery (@defer). */
function lambdaResult(response: HTTPGraphQLResponse): APIGatewayProxyStructuredResultV2 {
  if (response.body.kind !== 'complete') throw new Error('Only complete body type supported');
  return {
    statusCode: response.status ?? 200,
    headers: { ...Object.fromEntries(response.headers), 'content-length': Buffer.byteLength(response.body.string).toString() },
    body: response.body.string,
  };
}

/**
 * A Lambda handler serving `server`. Apollo starts in the background at once (during the container's init, as the
 * integration did); what cannot be turned into a request or a result (an unparsable JSON body) answers 400 with
 * the reason as its body.
 */
export function createLambdaHandler<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  context: (request: { event: APIGatewayProxyEventV2; context: Context }) => Promise<TContext>,
): (event: APIGatewayProxyEventV2, lambdaContext: Context) => Promise<APIGatewayProxyStructuredResultV2> {
  server.startInBackgroundHandlingStartupErrorsByLoggingAndFailingAllRequests();
  return async (event, lambdaContext) => {
    try {
      const response = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: httpGraphQLRequest(event),
        context: () => context({ event, context: lambdaContext }),
      });
      return lambdaResult(response);
    } catch (error) {
      return { statusCode: 400, body: (error as Error).message };
    }
  };
}
