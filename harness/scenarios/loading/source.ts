/**
 * A parsed YAML file that can say where a value is: `file:line:col` for a path into its data, and the offending
 * lines as a code frame, so every load error points at the text the author has to change.
 */
import { codeFrameColumns } from '@babel/code-frame';
import { type Document, isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';

export type DataPath = Array<string | number>;

/** One problem, placed: `where` is `file:line:col`, `frame` the lines around it with a caret. */
export interface Problem {
  where: string;
  message: string;
  frame: string;
}

export class YamlSource {
  readonly doc: Document;
  readonly lines = new LineCounter();
  readonly syntaxErrors: Problem[];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
    this.syntaxErrors = this.doc.errors.map((e) => {
      const line = e.linePos?.[0].line ?? 1;
      const col = e.linePos?.[0].col ?? 1;
      return this.problemAt({ line, col }, `YAML: ${e.message.split('\n')[0]}`);
    });
  }

  data(): unknown {
    return this.doc.toJS();
  }

  /** The position of the value at `path` (of its key with `atKey`), else of its deepest existing ancestor. */
  position(path: DataPath, atKey = false): { line: number; col: number } {
    if (atKey && path.length) {
      const parent = this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
        if (pair && isNode(pair.key) && pair.key.range) return this.lines.linePos(pair.key.range[0]);
      }
    }
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]);
    }
    return { line: 1, col: 1 };
  }

  problem(path: DataPath, message: string, atKey = false): Problem {
    return this.problemAt(this.position(path, atKey), message);
  }

  problemAt({ line, col }: { line: number; col: number }, message: string): Problem {
    // Babel's columns count from 0 (its AST's), ours from 1 (editors').
    const frame = codeFrameColumns(this.text, { start: { line, column: col - 1 } }, { highlightCode: false, linesAbove: 1, linesBelow: 1 });
    return { where: `${this.file}:${line}:${col}`, message, frame };
  }
}

export const formatProblem = (p: Problem): string => `${p.where}: ${p.message}`;
