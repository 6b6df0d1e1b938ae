/**
 * The AWS SDK's DynamoDB client package, as the emulator's main thread uses it (table creation, stream images,
 * index copies, TTL sweeps), loaded on first need rather than with the emulator's modules. Why: it is ~100 ms of
 * `npm run emulate`'s start-up, and nothing needs it before DynamoDB's endpoint is known — the moment the Lambda
 * containers' init starts. Loaded after that, it no longer delays the first function's cold start.
 *
 * Static `import type` stays free; a value import of the package anywhere in the emulator's module graph would load
 * it up front again (esbuild hoists a bundled module's package imports to the bundle's top).
 */
export type DynamoDBSdk = typeof import('@aws-sdk/client-dynamodb');

let loaded: DynamoDBSdk | undefined;

/** Loads the package (once). */
export async function loadDynamoDBSdk(): Promise<DynamoDBSdk> {
  loaded ??= await import('@aws-sdk/client-dynamodb');
  return loaded;
}

/**
 * The package, for code that runs only once a client exists (startDynamoDB loads it before making one): a
 * DynamoDBClient in hand means it is loaded.
 */
export function dynamoDBSdk(): DynamoDBSdk {
  if (!loaded) throw new Error('the DynamoDB SDK is not loaded yet: await loadDynamoDBSdk() first');
  return loaded;
}
