// Reads a pipeline YAML file and validates it against the schema. Every problem is reported with the file, line,
// column and key path it concerns, so a bad file is rejected before anything runs.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import { PipelineSchema, type Pipeline } from './schema';

export interface PipelineProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted key path, e.g. `interpretability.layerOrder[1]`; empty for the whole file. */
  path: string;
  message: string;
}

export class PipelineError extends Error {
  constructor(readonly problems: PipelineProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'PipelineError';
  }
}

export function formatProblem(p: PipelineProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

export interface LoadedPipeline {
  file: string;
  /** The YAML text exactly as read: stored in the run's memo and hashed. */
  text: string;
  pipeline: Pipeline;
}

export function loadPipelineFile(file: string): LoadedPipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PipelineError([{ file, line: 0, column: 0, path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return { file, text, pipeline: parsePipeline(text, file) };
}

/** Parses and validates pipeline YAML text; throws a PipelineError listing every problem. */
export function parsePipeline(text: string, file = '<pipeline>'): Pipeline {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new PipelineError(
      doc.errors.map((e) => ({ file, ...at(e.pos[0]), path: '', message: `YAML syntax error: ${firstLine(e.message)}` })),
    );
  }
  const result = PipelineSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new PipelineError(result.error.issues.flatMap((issue) => problemsOf(issue, doc, file, at)));
}

function problemsOf(
  issue: z.core.$ZodIssue,
  doc: Document,
  file: string,
  at: (offset: number) => { line: number; column: number },
): PipelineProblem[] {
  const path = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      file,
      ...at(keyOffset(doc, path, key)),
      path: formatPath([...path, key]),
      message: `unknown key "${key}"`,
    }));
  }
  return [{ file, ...at(valueOffset(doc, path)), path: formatPath(path), message: issue.message }];
}

/** Offset of the deepest node on `path` that exists in the document (a missing key points at its parent). */
function valueOffset(doc: Document, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
  }
  return 0;
}

function keyOffset(doc: Document, path: (string | number)[], key: string): number {
  const parent = path.length === 0 ? doc.contents : (doc.getIn(path, true) as Node | undefined);
  if (parent && isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  return valueOffset(doc, path);
}

function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');
}

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}
