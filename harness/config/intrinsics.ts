/**
 * The CloudFormation intrinsics serverless.yml's values use (`Ref`, `Fn::Join`, `Fn::Sub`, `Fn::GetAtt`), resolved
 * against the tables and queues of `resources` and the resources the emulator itself provides (API ids).
 */
import { ACCOUNT_ID } from '../common/awsDefaults.js';
import { ServerlessConfigError } from './errors.js';
import type { Json } from './variables.js';
import type { TableDefinition } from './serverless.js';

/** A stream ARN ends with the stream's label, its creation time; the emulator's streams are created with the tables. */
export const STREAM_LABEL = '1970-01-01T00:00:00.000';

export interface IntrinsicContext {
  file: string;
  service: string;
  opt: Record<string, string | undefined>;
  tables: TableDefinition[];
  queueEntries: Array<[string, { Type?: string; Properties?: Record<string, Json> }]>;
  /** Resolves `Ref` to resources the emulator provides (e.g. WebsocketsApi → its API id). */
  refs: ((logicalId: string) => string | undefined) | undefined;
}

export function createIntrinsics(context: IntrinsicContext) {
  const { file, service, opt, tables, queueEntries } = context;
  const options = { refs: context.refs };
  const queueArn = (name: string): string => `arn:aws:sqs:${opt.region}:${ACCOUNT_ID}:${name}`;
  const queueNameOf = (logicalId: string, props: Record<string, Json>): string =>
    String(props.QueueName ?? `${service}-${opt.stage}-${logicalId}`);

  // CloudFormation intrinsics, as far as environment values use them.
  function intrinsic(value: Json, where: string): string {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const [key, arg] = Object.entries(value)[0] ?? [];
      if (key === 'Ref') return ref(String(arg), where);
      if (key === 'Fn::Join') {
        const [separator, parts] = arg as [string, Json[]];
        return parts.map((p) => intrinsic(p, where)).join(separator);
      }
      if (key === 'Fn::Sub') {
        const template = Array.isArray(arg) ? String(arg[0]) : String(arg);
        const vars = (Array.isArray(arg) ? arg[1] : {}) as Record<string, Json>;
        return template.replace(/\$\{([^}]+)\}/g, (_m, name: string) =>
          name in vars ? intrinsic(vars[name], where) : name.includes('.') ? getAtt(name.split('.'), where) : ref(name, where),
        );
      }
      if (key === 'Fn::GetAtt') return getAtt(Array.isArray(arg) ? (arg as string[]) : String(arg).split('.'), where);
    }
    throw new ServerlessConfigError(`${file}: ${where}: unsupported value ${JSON.stringify(value)}`);
  }
  function ref(logicalId: string, where: string): string {
    if (logicalId === 'AWS::Region') return opt.region!;
    if (logicalId === 'AWS::AccountId') return ACCOUNT_ID;
    if (logicalId === 'AWS::StackName') return `${service}-${opt.stage}`;
    const table = tables.find((t) => t.logicalId === logicalId);
    if (table) return table.TableName;
    const queue = queueEntries.find(([id]) => id === logicalId);
    if (queue) return `https://sqs.${opt.region}.amazonaws.com/${ACCOUNT_ID}/${queueNameOf(logicalId, queue[1].Properties ?? {})}`;
    const provided = options.refs?.(logicalId);
    if (provided !== undefined) return provided;
    throw new ServerlessConfigError(`${file}: ${where}: cannot resolve Ref ${logicalId}`);
  }
  function getAtt([logicalId, attribute]: string[], where: string): string {
    const table = tables.find((t) => t.logicalId === logicalId);
    if (table && attribute === 'Arn') return `arn:aws:dynamodb:${opt.region}:${ACCOUNT_ID}:table/${table.TableName}`;
    if (table && attribute === 'StreamArn')
      return `arn:aws:dynamodb:${opt.region}:${ACCOUNT_ID}:table/${table.TableName}/stream/${STREAM_LABEL}`;
    const queue = queueEntries.find(([id]) => id === logicalId);
    if (queue && attribute === 'Arn') return queueArn(queueNameOf(logicalId, queue[1].Properties ?? {}));
    if (queue && attribute === 'QueueName') return queueNameOf(logicalId, queue[1].Properties ?? {});
    throw new ServerlessConfigError(`${file}: ${where}: cannot resolve Fn::GetAtt ${logicalId}.${attribute}`);
  }

  return { intrinsic, ref, queueArn, queueNameOf };
}
