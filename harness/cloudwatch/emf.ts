/**
 * CloudWatch Embedded Metric Format (EMF): how CloudWatch Logs reads the metrics a structured log line carries.
 * Follows AWS's "Specification: Embedded metric format": the root holds `_aws` with `Timestamp` (ms since the epoch)
 * and `CloudWatchMetrics`, an array of MetricDirectives; each directive names a `Namespace`, `Dimensions` (an array
 * of DimensionSets, each an array of root member names whose values are strings) and `Metrics` (MetricDefinitions:
 * `Name`, optional `Unit` and `StorageResolution`). A metric's value is the root member of its name: a number or an
 * array of up to 100 numbers. Each DimensionSet of a directive makes its own metric with the same values.
 *
 * A document that breaks the specification creates no metric on AWS (the log line is stored all the same and
 * `AWS/Logs` counts an EMF validation error): here it is refused with the reason, so a developer sees why.
 */

/** CloudWatch's units (StandardUnit in the CloudWatch API); EMF's `Unit` is one of them, `None` when absent. */
export const CLOUDWATCH_UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

/** The specification's limits. */
export const EMF_LIMITS = {
  dimensionsPerSet: 30,
  metricsPerDirective: 100,
  valuesPerMetric: 100,
  namespaceLength: 255,
  nameLength: 1024,
};

/** One metric's values from one document, as CloudWatch would store them. */
export interface MetricDatum {
  namespace: string;
  name: string;
  unit: string;
  /** 60 (standard) or 1 (high resolution). */
  storageResolution: number;
  dimensions: Record<string, string>;
  values: number[];
  /** `_aws.Timestamp`, ms since the epoch. */
  timestamp: number;
}

export type EmfResult = { ok: true; data: MetricDatum[] } | { ok: false; error: string };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a log line's JSON means to be EMF (has `_aws.CloudWatchMetrics`); only those are checked against the spec. */
export function looksLikeEmf(document: unknown): document is Record<string, unknown> {
  return isObject(document) && isObject(document._aws) && 'CloudWatchMetrics' in document._aws;
}

class EmfError extends Error {}

function fail(message: string): never {
  throw new EmfError(message);
}

function valuesOf(root: Record<string, unknown>, name: string): number[] {
  const value = root[name];
  if (value === undefined) fail(`metric ${name} has no root member ${name}`);
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) fail(`metric ${name}: the values array is empty`);
  if (values.length > EMF_LIMITS.valuesPerMetric)
    fail(`metric ${name}: ${values.length} values, over the limit of ${EMF_LIMITS.valuesPerMetric}`);
  for (const v of values) if (typeof v !== 'number' || !Number.isFinite(v)) fail(`metric ${name}: ${JSON.stringify(v)} is not a number`);
  return values as number[];
}

function dimensionSetsOf(root: Record<string, unknown>, directive: Record<string, unknown>, at: string): Array<Record<string, string>> {
  const sets = directive.Dimensions;
  if (!Array.isArray(sets)) fail(`${at}.Dimensions must be an array of DimensionSets`);
  return sets.map((set, i) => {
    if (!Array.isArray(set)) fail(`${at}.Dimensions[${i}] must be an array of dimension names`);
    if (set.length > EMF_LIMITS.dimensionsPerSet)
      fail(`${at}.Dimensions[${i}] has ${set.length} dimensions, over the limit of ${EMF_LIMITS.dimensionsPerSet}`);
    const dimensions: Record<string, string> = {};
    for (const key of set) {
      if (typeof key !== 'string' || !key) fail(`${at}.Dimensions[${i}]: ${JSON.stringify(key)} is not a dimension name`);
      const value = root[key];
      if (typeof value !== 'string' || !value)
        fail(`dimension ${key} must be a non-empty string member of the root, got ${JSON.stringify(value)}`);
      dimensions[key] = value;
    }
    return dimensions;
  });
}

function parseDirective(root: Record<string, unknown>, directive: unknown, index: number, timestamp: number): MetricDatum[] {
  const at = `_aws.CloudWatchMetrics[${index}]`;
  if (!isObject(directive)) fail(`${at} must be an object`);
  const namespace = directive.Namespace;
  if (typeof namespace !== 'string' || !namespace || namespace.length > EMF_LIMITS.namespaceLength)
    fail(`${at}.Namespace must be a string of 1 to ${EMF_LIMITS.namespaceLength} characters`);
  const dimensionSets = dimensionSetsOf(root, directive, at);
  const metrics = directive.Metrics;
  if (!Array.isArray(metrics)) fail(`${at}.Metrics must be an array of MetricDefinitions`);
  if (metrics.length > EMF_LIMITS.metricsPerDirective)
    fail(`${at}.Metrics has ${metrics.length} metrics, over the limit of ${EMF_LIMITS.metricsPerDirective}`);
  const data: MetricDatum[] = [];
  for (const [j, definition] of metrics.entries()) {
    if (!isObject(definition)) fail(`${at}.Metrics[${j}] must be an object`);
    const { Name: name, Unit: unit = 'None', StorageResolution: storageResolution = 60 } = definition;
    if (typeof name !== 'string' || !name || name.length > EMF_LIMITS.nameLength)
      fail(`${at}.Metrics[${j}].Name must be a string of 1 to ${EMF_LIMITS.nameLength} characters`);
    if (typeof unit !== 'string' || !CLOUDWATCH_UNITS.has(unit)) fail(`metric ${name}: ${JSON.stringify(unit)} is not a CloudWatch unit`);
    if (storageResolution !== 1 && storageResolution !== 60) fail(`metric ${name}: StorageResolution must be 1 or 60`);
    const values = valuesOf(root, name);
    // No DimensionSet (an empty array) still makes one metric, without dimensions.
    for (const dimensions of dimensionSets.length ? dimensionSets : [{}]) {
      data.push({ namespace, name, unit, storageResolution, dimensions, values, timestamp });
    }
  }
  return data;
}

/** The metrics an EMF document carries, or why CloudWatch would extract none. */
export function parseEmf(document: unknown): EmfResult {
  try {
    if (!isObject(document)) fail('an EMF document is a JSON object');
    const aws = document._aws;
    if (!isObject(aws)) fail('_aws must be an object');
    const timestamp = aws.Timestamp;
    if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0)
      fail('_aws.Timestamp must be a number of milliseconds since the epoch');
    const directives = aws.CloudWatchMetrics;
    if (!Array.isArray(directives)) fail('_aws.CloudWatchMetrics must be an array of MetricDirectives');
    return { ok: true, data: directives.flatMap((d, i) => parseDirective(document, d, i, timestamp)) };
  } catch (error) {
    if (error instanceof EmfError) return { ok: false, error: error.message };
    throw error;
  }
}
