/**
 * Network time: how long a call from a Lambda to an AWS service takes, and how far a DynamoDB global secondary
 * index lags its table. Locally every call answers in microseconds, which hides exactly the costs that decide
 * whether a fanout fits in a Lambda's timeout; a profile puts them back. Sources of the `aws` figures are in the
 * README ("Network time").
 */

/** A delay of `baseMs` plus a uniformly random extra of up to `jitterMs`. */
export interface Delay {
  baseMs: number;
  jitterMs: number;
}

export interface LatencyProfile {
  name: string;
  /**
   * Per AWS service, keyed by the service's signing name (the `execute-api` of the management API, `dynamodb`),
   * which every SDK request carries in its SigV4 credential scope, so a service added later is recognised too.
   */
  services: Record<string, Delay>;
  /** Services the profile does not name. */
  otherServices: Delay;
  /** How long a write takes to show in a global secondary index. */
  indexLag: Delay;
}

const ZERO: Delay = { baseMs: 0, jitterMs: 0 };

export const LATENCY_PROFILES = {
  /** Today's emulator: every call answers at once, indexes are immediately consistent (tests, scenarios). */
  none: { name: 'none', services: {}, otherServices: ZERO, indexLag: ZERO },
  /** In-region figures from a Lambda (see README, "Network time", for where each comes from). */
  aws: {
    name: 'aws',
    services: {
      'execute-api': { baseMs: 20, jitterMs: 20 },
      dynamodb: { baseMs: 4, jitterMs: 6 },
    },
    otherServices: { baseMs: 10, jitterMs: 10 },
    indexLag: { baseMs: 100, jitterMs: 900 },
  },
} as const satisfies Record<string, LatencyProfile>;

export type LatencyProfileName = keyof typeof LATENCY_PROFILES;
export const LATENCY_PROFILE_NAMES = Object.keys(LATENCY_PROFILES) as LatencyProfileName[];

/** The named profile; an unknown name is an error that lists the known ones. */
export function latencyProfile(name: string): LatencyProfile {
  if (!(name in LATENCY_PROFILES)) throw new Error(`Unknown latency profile "${name}" (known: ${LATENCY_PROFILE_NAMES.join(', ')})`);
  return LATENCY_PROFILES[name as LatencyProfileName];
}

/** One draw of a delay, in whole milliseconds. */
export function draw(delay: Delay, random: () => number = Math.random): number {
  return Math.round(delay.baseMs + random() * delay.jitterMs);
}

/** The delay of one call to `service` under `profile`. */
export function serviceDelay(profile: LatencyProfile, service: string, random: () => number = Math.random): number {
  return draw(profile.services[service] ?? profile.otherServices, random);
}

/** A one-line description for banners and reports, e.g. "aws (execute-api 20–40 ms, dynamodb 4–10 ms, …)". */
export function describeProfile(profile: LatencyProfile): string {
  const range = (d: Delay): string => (d.jitterMs ? `${d.baseMs}–${d.baseMs + d.jitterMs} ms` : `${d.baseMs} ms`);
  if (profile.name === 'none') return 'none (AWS calls answer at once, indexes immediately consistent)';
  const services = Object.entries(profile.services).map(([name, d]) => `${name} ${range(d)}`);
  return `${profile.name} (${[...services, `other services ${range(profile.otherServices)}`, `index lag ${range(profile.indexLag)}`].join(', ')})`;
}
