// Reads a pipeline YAML file and validates it against the schema. Every problem is reported with the file, line,
// column and key path it concerns, so a bad file is rejected before anything runs; an unknown key gets the nearest
// known one ("did you mean", by edit distance: fastest-levenshtein), and settings without effect get warnings.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { closest, distance } from 'fastest-levenshtein';
import { isMap, isScalar, LineCounter, parseAllDocuments, parseDocument, visit, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import { hiddenLayers, PipelineSchema, type Pipeline } from './schema';

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
  /** Settings the file makes that have no effect (see pipelineWarnings). */
  warnings: PipelineProblem[];
}

export function loadPipelineFile(file: string): LoadedPipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PipelineError([{ file, line: 0, column: 0, path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return { file, text, ...checkPipeline(text, file, dirname(file)) };
}

/** Parses and validates pipeline YAML text; throws a PipelineError listing every problem. */
export function parsePipeline(text: string, file = '<pipeline>', baseDir = '.'): Pipeline {
  return checkPipeline(text, file, baseDir).pipeline;
}

/** Aliases one file may expand (the yaml library's guard against "billion laughs" alias bombs). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates pipeline YAML text (YAML 1.2, with `<<` merge keys): the pipeline and the warnings of
 * settings without effect. Throws a PipelineError with `file:line:column` for every problem: YAML syntax, several
 * documents in one file, an alias to no anchor, an alias bomb, nesting too deep, and each schema violation.
 * The paths it names (corpus.paths, model.from) are made absolute, relative to `baseDir` (the file's directory).
 */
export function checkPipeline(text: string, file = '<pipeline>', baseDir = '.'): { pipeline: Pipeline; warnings: PipelineProblem[] } {
  const lineCounter = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const fail = (offset: number, message: string, path = ''): never => {
    throw new PipelineError([{ file, ...at(offset), path, message }]);
  };
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  if (docs.length > 1) fail(docs[1]!.range[0], `this file holds ${docs.length} YAML documents (separated by "---"); a pipeline file holds one`);
  const doc = docs[0] ?? parseDocument('', { lineCounter });
  if (doc.errors.length > 0) {
    const says = (e: (typeof doc.errors)[number]) =>
      /call stack/i.test(e.message)
        ? 'the file nests too deeply to be a pipeline'
        : e.code === 'DUPLICATE_KEY'
          ? `the key "${/^\s*["']?([^:"'\n]+?)["']?\s*:/.exec(text.slice(e.pos[0]))?.[1] ?? '?'}" appears twice in one map`
          : `YAML syntax error: ${firstLine(e.message)}`;
    throw new PipelineError(doc.errors.map((e) => ({ file, ...at(e.pos[0]), path: '', message: says(e) })));
  }
  let firstAlias: number | undefined;
  visit(doc, {
    Alias(_, node) {
      firstAlias ??= node.range?.[0] ?? 0;
      if (!node.resolve(doc)) fail(node.range?.[0] ?? 0, `*${node.source} refers to no anchor: set &${node.source} on a value above it first`);
    },
  });
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    if (err instanceof RangeError) fail(0, 'the file nests too deeply to be a pipeline');
    if (/alias count/i.test((err as Error).message)) fail(firstAlias ?? 0, `its aliases expand to too many copies (more than ${MAX_ALIAS_COUNT}): write the values out, or alias less`);
    throw err;
  }
  let result: ReturnType<typeof PipelineSchema.safeParse>;
  try {
    result = PipelineSchema.safeParse(raw);
  } catch (err) {
    if (err instanceof RangeError) fail(0, 'the file nests too deeply to be a pipeline');
    throw err;
  }
  if (!result.success) throw new PipelineError(result.error.issues.flatMap((issue) => problemsOf(issue, doc, raw, file, at)).sort((a, b) => a.line - b.line || a.column - b.column));
  const pipeline = result.data;
  if (pipeline.corpus.paths) pipeline.corpus.paths = pipeline.corpus.paths.map((p) => resolve(baseDir, p));
  if (pipeline.model.from) pipeline.model.from = resolve(baseDir, pipeline.model.from);
  return { pipeline, warnings: pipelineWarnings(pipeline, raw, doc, file, at) };
}

/** The value the file itself gives at `path`; undefined where it leaves it out (YAML has no undefined: null is set). */
function valueAt(raw: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), raw);
}

/** Whether the file itself sets the value at `path` (rather than leaving it to its default). */
function isSet(raw: unknown, path: (string | number)[]): boolean {
  return valueAt(raw, path) !== undefined;
}

/**
 * Settings the file makes that have no effect: per-layer settings of a layer the plan does not process, and
 * dictionary options that the dictionary's kind, or its being off, ignores.
 */
export function pipelineWarnings(p: Pipeline, raw: unknown, doc: Document, file: string, at: (offset: number) => { line: number; column: number }): PipelineProblem[] {
  const warnings: PipelineProblem[] = [];
  const warn = (path: (string | number)[], message: string) => warnings.push({ file, ...at(valueOffset(doc, path)), path: formatPath(path), message });
  const names = hiddenLayers(p.model).map((h) => h.name);
  const order = p.interpretability.layerOrder ?? names;
  const depths = [p.interpretability.startingDepth, ...(p.sweep?.startingDepth ?? [])];
  const processed = new Set(order.filter((n) => names.indexOf(n) >= Math.min(...depths)));
  for (const name of Object.keys(p.interpretability.layers))
    if (names.includes(name) && !processed.has(name))
      warn(['interpretability', 'layers', name], `has no effect: layer "${name}" is not processed (${p.interpretability.layerOrder ? `layerOrder is [${order.join(', ')}]` : `startingDepth ${p.interpretability.startingDepth} begins above it`})`);
  const dictionaries: [(string | number)[], unknown][] = [
    [['interpretability', 'dictionary'], p.interpretability.dictionary],
    ...Object.keys(p.interpretability.layers).map((n): [(string | number)[], unknown] => [['interpretability', 'layers', n, 'dictionary'], p.interpretability.layers[n]?.dictionary]),
  ];
  for (const [path, d] of dictionaries) {
    if (!d || !isSet(raw, path)) continue;
    const dictionary = d as { enabled: boolean; kind: 'topk' | 'l1' };
    const setKeys = Object.keys(valueAt(raw, path) as object);
    const swept = p.sweep?.dictionary?.includes(true) ?? false;
    if (!dictionary.enabled && !swept) {
      const others = setKeys.filter((k) => k !== 'enabled');
      if (others.length > 0) warn([...path, 'enabled'], `dictionary learning is off, so ${others.join(', ')} ${others.length === 1 ? 'has' : 'have'} no effect`);
      continue;
    }
    if (dictionary.kind === 'l1' && setKeys.includes('k')) warn([...path, 'k'], 'has no effect with kind l1 (k is the active features per token of kind topk; l1 sets the sparsity penalty)');
    if (dictionary.kind === 'topk' && setKeys.includes('l1')) warn([...path, 'l1'], 'has no effect with kind topk (l1 is the sparsity penalty of kind l1; k sets the active features)');
  }
  // A model started from an export is not trained first: the training settings go unused.
  if (p.model.from && isSet(raw, ['training'])) warn(['training'], 'has no effect: model.from starts from an exported model, so the base model is not trained');
  if (p.corpus.segment === 'windows' && isSet(raw, ['corpus', 'minTokens'])) warn(['corpus', 'minTokens'], `has no effect with segment windows (every window has exactly maxTokens, ${p.corpus.maxTokens}, tokens)`);
  return warnings;
}

function problemsOf(
  issue: z.core.$ZodIssue,
  doc: Document,
  raw: unknown,
  file: string,
  at: (offset: number) => { line: number; column: number },
): PipelineProblem[] {
  const path = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(PipelineSchema, path);
    return issue.keys.map((key) => {
      const near = known.length > 0 ? closest(key, known) : undefined;
      // A key of another variant (an openai provider's model on an embedded one): say whose it is.
      const variant = known.includes(key) ? valueAt(raw, [...path, 'provider']) : undefined;
      const hint =
        known.includes(key)
          ? `: it is not a setting of ${variant !== undefined ? `provider: ${String(variant)}` : 'this kind'}`
          : near && distance(key, near) <= Math.max(2, Math.floor(key.length / 4))
            ? `: did you mean "${near}"?`
            : known.length > 0
              ? ` (known here: ${known.join(', ')})`
              : '';
      return { file, ...at(keyOffset(doc, path, key)), path: formatPath([...path, key]), message: `unknown key "${key}"${hint}` };
    });
  }
  let message = issue.message;
  if (path.length === 0 && issue.code === 'invalid_type') message = `a pipeline file is a map of settings (name:, model:, …), not ${Array.isArray(raw) ? 'a list' : `a ${typeof raw}`}`;
  const value = valueAt(raw, path);
  // YAML 1.1 read yes/no/on/off as booleans; YAML 1.2, which pipelines are, reads them as words.
  if (issue.code === 'invalid_type' && issue.expected === 'boolean' && typeof value === 'string' && /^(y|yes|n|no|on|off)$/i.test(value))
    message += `: "${value}" is a word in YAML 1.2 (YAML 1.1 read it as a boolean); write true or false`;
  // A problem at a value the file leaves out: a required one, or a default that something the file sets rules out.
  if (path.length > 0 && !isSet(raw, path))
    message = value === undefined && issue.code === 'invalid_type' ? 'missing: required here' : `${message} (${formatPath(path)} is not set in this file: its default)`;
  // Such a problem is shown where the file sets a key its message names (e.g. corpus.sentences), if any.
  const named = path.length > 0 && !isSet(raw, path) ? [...message.matchAll(/\b([a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+)\b/g)].map((m) => m[1]!.split('.')).find((p) => isSet(raw, p)) : undefined;
  return [{ file, ...at(valueOffset(doc, named ?? path)), path: formatPath(path), message }];
}

/** The keys a strict object of the schema allows at `path` (every option's, for a union); none where it takes any. */
function keysAt(schema: z.ZodType, path: (string | number)[]): string[] {
  type Def = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; in?: z.ZodType; valueType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[] };
  const def = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;
  const unwrap = (s: z.ZodType | undefined): z.ZodType | undefined => {
    while (s && ['optional', 'default', 'prefault', 'nullable', 'pipe', 'readonly', 'catch'].includes(def(s).type)) s = def(s).innerType ?? def(s).in;
    return s;
  };
  const shapes = (s: z.ZodType | undefined): Record<string, z.ZodType>[] => {
    const u = unwrap(s);
    if (!u) return [];
    const d = def(u);
    if (d.type === 'object') return [d.shape!];
    if (d.type === 'union') return d.options!.flatMap(shapes);
    return [];
  };
  let s: z.ZodType | undefined = schema;
  for (const k of path) {
    const u = unwrap(s);
    if (!u) return [];
    const d = def(u);
    s = d.type === 'record' ? d.valueType : d.type === 'array' ? d.element : shapes(u).find((shape) => typeof k === 'string' && k in shape)?.[k as string];
  }
  return [...new Set(shapes(s).flatMap((shape) => Object.keys(shape)))];
}

/**
 * A problem at the value of `path` in pipeline YAML text (the nearest enclosing value the file sets; 1:1 if none):
 * for checks made after validation, e.g. of the corpus files a pipeline names.
 */
export function problemAt(text: string, file: string, path: (string | number)[], message: string): PipelineProblem {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  const { line, col } = lineCounter.linePos(valueOffset(doc, path));
  return { file, line, column: col, path: formatPath(path), message };
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
