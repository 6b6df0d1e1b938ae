import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per container; LOG_LEVEL and POWERTOOLS_SERVICE_NAME come from the environment. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'perkup' });
