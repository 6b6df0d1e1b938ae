/** A serverless.yml the emulator cannot run as written, with the file and the place in it. */
export class ServerlessConfigError extends Error {
  override name = 'ServerlessConfigError';
}
