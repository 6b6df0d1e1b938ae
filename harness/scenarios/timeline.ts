/**
 * A scenario's Mermaid sequence diagram in the order things started, so causes come before their effects:
 * - the event log records an invocation when it ends, but also logs `invokeStart`: the call is drawn there and its
 *   outcome as a return arrow where it ended;
 * - an HTTP request is logged after its answer, a handshake after its $connect: each is drawn at the start of the
 *   invocation it triggered (paired first come, first served), its answer where it was logged;
 * - a frame is logged as delivered inside the management POST that sends it, before the POST is logged: it is drawn
 *   right after that POST;
 * - one lane per named scenario client (a group is one lane) and per AWS piece; a note per step where it began;
 * - each absence window (`expectNoMessage`) as a shaded block on its client's lane, from where it opened to where it
 *   closed, so "Lyon got nothing" is visible: amber when nothing came, red when a forbidden frame did.
 */
import type { LoggedEvent } from '../eventLog.js';
import type { ScenarioResult } from './runner.js';

const text = (s: string, max = 80): string => {
  const clean = s
    .replace(/[;#\n\r]/g, ' ')
    .replace(/"/g, "'")
    .replace(/[<>]/g, (c) => (c === '<' ? '‹' : '›'));
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
};

export interface TimelineOptions {
  /** Arrows and notes drawn at most; the rest is summed up in one note (a 1,000-client run stays readable). */
  maxLines?: number;
}

export function timelineDiagram(result: ScenarioResult, options: TimelineOptions = {}): string {
  const maxLines = options.maxLines ?? 300;
  const windows = [...(result.absenceWindows ?? [])].sort((a, b) => a.fromSeq - b.fromSeq || b.toSeq - a.toSeq);
  const clientNames = [...new Set([...Object.values(result.connections), ...windows.map((w) => w.client)])];
  const laneId = new Map(clientNames.map((name, i) => [name, `c${i}`]));
  const laneOf = (connectionId: string): string => laneId.get(result.connections[connectionId] ?? '') ?? 'other';
  const hasOther = result.events.some((e) => 'connectionId' in e && !(e.connectionId in result.connections));
  const http = result.events.some((e) => e.kind === 'http');
  const header = [
    'sequenceDiagram',
    ...clientNames.map((name) => `  participant ${laneId.get(name)} as ${text(name, 30)}`),
    ...(hasOther ? ['  participant other as other connections'] : []),
    ...(http ? ['  participant H as GraphQL caller'] : []),
    '  participant API as API Gateway',
    '  participant L as Lambda',
    '  participant D as DynamoDB',
    '  participant M as Management API',
  ];
  const first = clientNames.length ? laneId.get(clientNames[0])! : http ? 'H' : 'API';

  const body: string[] = [];
  const steps = [...result.steps].filter((s) => s.afterEventSeq !== undefined).sort((a, b) => a.afterEventSeq! - b.afterEventSeq!);
  let nextStep = 0;
  const stepNotesUpTo = (seq: number): void => {
    while (nextStep < steps.length && steps[nextStep].afterEventSeq! < seq) {
      const s = steps[nextStep++];
      body.push(`  Note over ${first},M: ${s.status === 'failed' ? '✗ ' : ''}${text(s.label, 100)} (line ${s.line})`);
    }
  };

  // Absence windows: opened after the event they followed, closed after the last event inside them; nested as a stack
  // (Mermaid's blocks must nest), so a window can only close once those opened after it have.
  const open: typeof windows = [];
  let nextWindow = 0;
  const closeWindow = (w: (typeof windows)[number]): void => {
    body.push(
      `  Note over ${laneId.get(w.client)}: ${w.status === 'passed' ? '✓ nothing matching came' : '✗ a forbidden message came'}`,
      '  end',
    );
  };
  const windowsUpTo = (seq: number): void => {
    for (;;) {
      while (open.length && open[open.length - 1].toSeq < seq) closeWindow(open.pop()!);
      if (nextWindow >= windows.length || windows[nextWindow].fromSeq >= seq) return;
      const w = windows[nextWindow++];
      open.push(w);
      body.push(
        `  rect ${w.status === 'passed' ? 'rgba(255, 193, 7, 0.15)' : 'rgba(207, 34, 46, 0.18)'}`,
        `  Note over ${laneId.get(w.client)}: expects no ${text(JSON.stringify(w.match), 50)} for ${w.duringMs} ms`,
      );
    }
  };

  // HTTP answers waiting for their request's invocation start: a FIFO per "METHOD /path".
  const httpByTrigger = new Map<string, LoggedEvent[]>();
  for (const e of result.events)
    if (e.kind === 'http') httpByTrigger.set(`${e.method} ${e.path}`, [...(httpByTrigger.get(`${e.method} ${e.path}`) ?? []), e]);
  // Handshakes: the i-th $connect invocation started belongs to the i-th handshake that ended (open or refused).
  const handshakeOf = new Map<number, LoggedEvent & { kind: 'connection' }>();
  const connectStarts: number[] = [];
  for (const e of result.events) {
    if (e.kind === 'invokeStart' && e.trigger === '$connect') connectStarts.push(e.seq);
    if (e.kind === 'connection' && e.state !== 'closed' && connectStarts.length) handshakeOf.set(connectStarts.shift()!, e);
  }
  // Deliveries drawn after the POST that made them.
  const deferred = new Map<string, string[]>();

  for (const e of result.events) {
    stepNotesUpTo(e.seq);
    windowsUpTo(e.seq);
    switch (e.kind) {
      case 'invokeStart': {
        const request = httpByTrigger.get(e.trigger)?.shift();
        if (request) body.push(`  H->>API: ${text(e.trigger)}`);
        const handshake = handshakeOf.get(e.seq);
        if (handshake) body.push(`  ${laneOf(handshake.connectionId)}->>API: connect`);
        body.push(`  API->>+L: ${text(e.functionName)} ${text(e.trigger)}${e.coldStart ? ' (cold start)' : ''}`);
        break;
      }
      case 'invoke':
        // Named, because invocations overlap: the end drawn here may not be the last one started.
        body.push(
          `  L-->>-API: ${text(e.functionName)} ${text(e.trigger)} ${e.outcome} in ${e.durationMs} ms${e.error ? ` ${text(e.error, 60)}` : ''}`,
        );
        break;
      case 'http':
        body.push(`  API-->>H: ${e.statusCode}`);
        break;
      case 'connection': {
        const lane = laneOf(e.connectionId);
        if (e.state === 'open') body.push(`  API-->>${lane}: 101 open (${text(e.connectionId, 20)})`);
        else if (e.state === 'refused') body.push(`  API--x${lane}: refused ${e.statusCode ?? ''}`);
        else body.push(`  API--x${lane}: closed ${e.statusCode ?? ''}${e.reason ? ` ${text(e.reason, 40)}` : ''}`);
        break;
      }
      case 'dynamodb':
        body.push(
          `  L->>D: ${text(e.operation)} ${text(e.table ?? '', 40)} → ${e.statusCode}${e.errorType ? ` ${text(e.errorType, 40)}` : ''}`,
        );
        break;
      case 'delivered':
        deferred.set(e.connectionId, [...(deferred.get(e.connectionId) ?? []), `  M-->>${laneOf(e.connectionId)}: ${text(e.data)}`]);
        break;
      case 'management':
        body.push(
          `  L->>M: ${e.method} @connections/${text(e.connectionId, 20)} → ${e.statusCode}${e.errorType ? ` ${text(e.errorType, 40)}` : ''}`,
        );
        if (e.method === 'POST') {
          const frame = deferred.get(e.connectionId)?.shift();
          if (frame) body.push(frame);
        }
        break;
      case 'cacheInvalidated':
        body.push(`  Note over L: cache invalidated ${text(e.keys.join(', '))}`);
        break;
      case 'fault':
        body.push(`  Note over API,M: fault: ${text(e.description)}`);
        break;
      case 'log':
        break;
    }
  }
  // Frames with no POST in the log (a route's own answer), then the steps after the last event.
  for (const frames of deferred.values()) body.push(...frames);
  stepNotesUpTo(Number.POSITIVE_INFINITY);
  windowsUpTo(Number.POSITIVE_INFINITY);

  const shown =
    body.length > maxLines
      ? [...closeBlocks(body.slice(0, maxLines)), `  Note over ${first},M: … ${body.length - maxLines} more lines not drawn`]
      : body;
  return balanceActivations([...header, ...shown]).join('\n');
}

/** A cut can fall inside absence windows: their blocks are closed so the diagram still parses. */
function closeBlocks(lines: string[]): string[] {
  const depth = lines.filter((l) => l.startsWith('  rect ')).length - lines.filter((l) => l === '  end').length;
  return [...lines, ...Array.from({ length: Math.max(0, depth) }, () => '  end')];
}

/**
 * `+L`/`-L` draw Lambda's activation bars; Mermaid refuses to deactivate an inactive participant, which a cut or a
 * log that starts mid-invocation would cause, so unmatched ends lose their `-`.
 */
function balanceActivations(lines: string[]): string[] {
  let active = 0;
  return lines.map((line) => {
    if (line.includes('->>+L:')) active++;
    else if (line.includes('-->>-API:')) {
      if (active === 0) return line.replace('-->>-API:', '-->>API:');
      active--;
    }
    return line;
  });
}
