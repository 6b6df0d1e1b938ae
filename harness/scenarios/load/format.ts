/**
 * A scenario's `load:` section, in the words Artillery and k6 users know: arrival `phases` (`duration`,
 * `arrivalRate`, `rampTo`, or `arrivalCount`), the connections' spread over topics, cities and categories, the
 * new-connection quota, the mutation workload (rate, count or duration, mix of create/update/delete, who is admin)
 * and `thresholds` on named metrics whose breach fails the scenario and the exit code.
 *
 * The section has its own JSON Schema piece (`loadSchema`), validated apart from the main scenario schema, which
 * only knows that `load` is an object; `parseLoad` turns a valid section into `LoadSpec` with defaults filled in.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { cachedValidator } from '../../common/cachedValidator.js';
import { toMs } from '../format.js';
import { parseThreshold, isKnownMetric, type Threshold } from './thresholds.js';
import { loadSchema } from './schema.js';

export { loadSchema };

export type Spread = string[] | Record<string, number>;
export type MutationKind = 'create' | 'update' | 'delete';

export interface Phase {
  name: string;
  durationMs: number;
  arrivalRate?: number;
  rampTo?: number;
  arrivalCount?: number;
  pause?: boolean;
}

export interface Operation {
  query: string;
  variables?: Record<string, unknown>;
  id?: string;
  success?: string;
}

/** An entity the workload may update or delete without having created it (interpolated from captures). */
export interface KnownEntity {
  id: string;
  city: string;
  category: string;
}

export interface LoadSpec {
  mode: 'simulated' | 'ws';
  phases: Phase[];
  /** The emulated WebSocket API's new-connection quota for this run (AWS's 500/s when absent). */
  maxConnectionsPerSecond?: number;
  /** Handshakes (with their subscribe) in flight at most: a load generator's concurrency. */
  inFlight: number;
  /** Token claims of each connection; `{n}` in `sub` is the connection's number (one user each by default). */
  claims: { sub: string; [claim: string]: unknown };
  subscribe: { topics: Spread; cities?: Spread; categories?: Spread; withinMs: number };
  mutations?: {
    as: string;
    rate: number;
    count?: number;
    durationMs?: number;
    maxInFlight: number;
    mix: Partial<Record<MutationKind, number>>;
    cities?: Spread;
    categories?: Spread;
    entities: KnownEntity[];
    operations: Partial<Record<MutationKind, Operation>>;
  };
  notifications: {
    match: unknown;
    topics: string[];
    eventId: string;
    entityId: string;
    kind: string;
    kinds: Record<MutationKind, string>;
    drainMs: number;
  };
  thresholds: Threshold[];
}

// Compiled on first use and cached across runs (most runs have no load section; compiling took a tenth of a second).
let validate: ValidateFunction | undefined;

function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `unknown key "${String(params.additionalProperty)}"`;
  if (error.keyword === 'required') return `missing "${String(params.missingProperty)}"`;
  if (error.keyword === 'enum') return `expected one of ${JSON.stringify(params.allowedValues)}`;
  return error.message ?? error.keyword;
}

/** Problems with the section as [path under `load`, message]; empty when it is valid. */
export function loadSectionProblems(section: unknown): Array<[Array<string | number>, string]> {
  validate ??= cachedValidator(loadSchema, { allErrors: true, strict: false });
  if (!validate(section)) {
    const seen = new Set<string>();
    const out: Array<[Array<string | number>, string]> = [];
    for (const error of validate.errors ?? []) {
      if (error.keyword === 'oneOf') continue;
      const path: Array<string | number> = error.instancePath
        .split('/')
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      if (error.keyword === 'additionalProperties') path.push(String((error.params as { additionalProperty: string }).additionalProperty));
      const message = describe(error);
      const key = `${path.join('.')}:${message}`;
      if (!seen.has(key)) out.push([path, message]);
      seen.add(key);
    }
    return out;
  }
  return semanticProblems(section as RawLoad);
}

type RawLoad = {
  phases: Array<Record<string, unknown>>;
  mutations?: { mix: Record<string, number>; operations: Record<string, unknown>; count?: number; duration?: unknown };
  thresholds?: Record<string, string | string[]>;
};

/** What the schema cannot say: a phase needs a rate or a count, the mix needs its operations, thresholds must parse. */
function semanticProblems(raw: RawLoad): Array<[Array<string | number>, string]> {
  const out: Array<[Array<string | number>, string]> = [];
  raw.phases.forEach((phase, i) => {
    if (!phase.pause && phase.arrivalRate === undefined && phase.arrivalCount === undefined)
      out.push([['phases', i], 'a phase needs arrivalRate (optionally rampTo), arrivalCount, or pause: true']);
    if (phase.rampTo !== undefined && phase.arrivalRate === undefined) out.push([['phases', i, 'rampTo'], 'rampTo needs arrivalRate']);
  });
  const m = raw.mutations;
  if (m) {
    for (const [kind, weight] of Object.entries(m.mix))
      if (weight > 0 && !m.operations[kind]) out.push([['mutations', 'operations'], `the mix has ${kind} but operations has no ${kind}`]);
    if (Object.values(m.mix).every((w) => w === 0)) out.push([['mutations', 'mix'], 'every weight of the mix is 0']);
    if (m.count === undefined && m.duration === undefined) out.push([['mutations'], 'mutations need count or duration']);
  }
  for (const [metric, conditions] of Object.entries(raw.thresholds ?? {})) {
    if (!isKnownMetric(metric)) out.push([['thresholds', metric], `unknown metric "${metric}" (see the README's load section)`]);
    for (const condition of Array.isArray(conditions) ? conditions : [conditions]) {
      try {
        parseThreshold(metric, condition);
      } catch (error) {
        out.push([['thresholds', metric], (error as Error).message]);
      }
    }
  }
  return out;
}

/** A valid section (see `loadSectionProblems`) with its defaults. */
export function parseLoad(section: unknown): LoadSpec {
  // biome-ignore lint/suspicious/noExplicitAny: the section was validated against loadSchema just before; its shape is known
  const raw = section as Record<string, any>;
  const sub = raw.subscribe;
  const m = raw.mutations;
  const n = raw.notifications;
  return {
    mode: raw.mode ?? 'simulated',
    // biome-ignore lint/suspicious/noExplicitAny: validated against loadSchema (phases) just before
    phases: (raw.phases as Array<Record<string, any>>).map((p, i) => ({
      name: p.name ?? `phase ${i + 1}`,
      durationMs: toMs(p.duration, 0),
      ...(p.arrivalRate !== undefined ? { arrivalRate: p.arrivalRate } : {}),
      ...(p.rampTo !== undefined ? { rampTo: p.rampTo } : {}),
      ...(p.arrivalCount !== undefined ? { arrivalCount: p.arrivalCount } : {}),
      ...(p.pause ? { pause: true } : {}),
    })),
    ...(raw.maxConnectionsPerSecond !== undefined ? { maxConnectionsPerSecond: raw.maxConnectionsPerSecond } : {}),
    inFlight: raw.inFlight ?? 64,
    claims: raw.claims ?? { sub: 'load-{n}', role: 'user' },
    subscribe: {
      topics: sub.topics,
      ...(sub.cities ? { cities: sub.cities } : {}),
      ...(sub.categories ? { categories: sub.categories } : {}),
      withinMs: toMs(sub.within, 30_000),
    },
    ...(m
      ? {
          mutations: {
            as: m.as,
            rate: m.rate,
            ...(m.count !== undefined ? { count: m.count } : {}),
            ...(m.duration !== undefined ? { durationMs: toMs(m.duration, 0) } : {}),
            maxInFlight: m.maxInFlight ?? 32,
            mix: m.mix,
            ...(m.cities ? { cities: m.cities } : {}),
            ...(m.categories ? { categories: m.categories } : {}),
            entities: m.entities ?? [],
            operations: m.operations,
          },
        }
      : {}),
    notifications: {
      match: n.match,
      topics: n.topics,
      eventId: n.eventId ?? 'eventId',
      entityId: n.entityId ?? 'id',
      kind: n.kind ?? 'action',
      kinds: { create: 'created', update: 'updated', delete: 'deleted', ...(n.kinds ?? {}) },
      drainMs: toMs(n.drain, 60_000),
    },
    thresholds: Object.entries((raw.thresholds ?? {}) as Record<string, string | string[]>).flatMap(([metric, conditions]) =>
      (Array.isArray(conditions) ? conditions : [conditions]).map((c) => parseThreshold(metric, c)),
    ),
  };
}

/**
 * The same load at `factor` of its size (CI runs 1–2 %): arrival rates and counts and the number of mutations
 * scale; durations, the mutation rate (a burst stays a burst), the quota and the spreads do not. Never below one
 * connection per phase that had any, nor below one mutation.
 */
export function scaleLoad(spec: LoadSpec, factor: number): LoadSpec {
  if (factor === 1) return spec;
  const scaled = (value: number | undefined): number | undefined => (value === undefined ? undefined : value * factor);
  return {
    ...spec,
    phases: spec.phases.map((p) => {
      const arrivalRate = scaled(p.arrivalRate);
      const rampTo = scaled(p.rampTo);
      return {
        ...p,
        ...(arrivalRate !== undefined ? { arrivalRate } : {}),
        ...(rampTo !== undefined ? { rampTo } : {}),
        ...(p.arrivalCount !== undefined
          ? { arrivalCount: Math.max(p.arrivalCount > 0 ? 1 : 0, Math.round(p.arrivalCount * factor)) }
          : {}),
      };
    }),
    ...(spec.mutations
      ? {
          mutations: {
            ...spec.mutations,
            ...(spec.mutations.count !== undefined ? { count: Math.max(1, Math.round(spec.mutations.count * factor)) } : {}),
          },
        }
      : {}),
  };
}
