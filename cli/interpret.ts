// `legible explain` and `legible score`: label one unit's activation records from a JSONL file, or score a given label
// on them, with the embedded provider or a pipeline file's explainer / simulator. The score is the pooled Pearson
// correlation of true and simulated activations over every token of the file (OpenAI's scoring, Bills et al. 2023).
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../data/errors';
import { unitRecords } from '../interp/records';
import { readRecordsFile, recordsAsLayer } from '../interp/records-file';
import { pearson } from '../interp/scoring';
import { explainerFor, simulatorFor } from '../llm/provider';
import { noUsage } from '../llm/types';
import { loadPipelineFile, PipelineError } from '../pipelines/load';
import { EMBEDDED_PROVIDER, type Provider } from '../pipelines/schema';
import type { ArtifactStore } from '../store/artifacts';
import { openStore } from '../store/open';
import { stateDir } from '../temporal/server';

export const EXPLAIN_USAGE = `Usage: legible explain RECORDS.jsonl [options]

Writes a label for one unit from its activation records: one sequence per line,
{"tokens": [...], "activations": [...]}, tokens exactly as a tokenizer wrote them.

Options:
  --explainer FILE   use this pipeline file's explainer (default: the embedded one)
  --simulator FILE   score the label with this pipeline file's simulator (default: embedded)
  --top N            top-activating sequences the explainer sees (default 20)
  --random N         random other sequences it sees (default 20)
  --seed N           seed of the random draw (default 1)
  --json             print {"label": ..., "score": ...}
The score is measured on the same records the label was made from (not held out).`;

export const SCORE_USAGE = `Usage: legible score RECORDS.jsonl --label "TEXT" [options]

Scores a label on one unit's activation records (JSONL, as for legible explain): the
Pearson correlation of true and simulated activations over every token.

Options:
  --label TEXT       the explanation to score (required)
  --simulator FILE   use this pipeline file's simulator (default: the embedded one)
  --json             print {"label": ..., "score": ...}`;

const COMMON = { simulator: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } as const;

/** Parses a command's options; an unknown option or a missing value is a usage error (exit 2), not a crash. */
function options(command: string, args: string[], spec: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>, text: string) {
  try {
    return parseArgs({ args, allowPositionals: true, options: spec });
  } catch (err) {
    usage(text, 2, `legible ${command}: ${(err as Error).message.split('. To specify')[0]}`);
    return undefined;
  }
}

export async function explainCommand(args: string[]): Promise<number> {
  const parsed = options('explain', args, { ...COMMON, explainer: { type: 'string' }, top: { type: 'string' }, random: { type: 'string' }, seed: { type: 'string' } }, EXPLAIN_USAGE);
  if (!parsed) return 2;
  const { values, positionals } = parsed as { values: { help?: boolean; json?: boolean; explainer?: string; simulator?: string; top?: string; random?: string; seed?: string }; positionals: string[] };
  if (values.help) return usage(EXPLAIN_USAGE, 0);
  if (positionals.length !== 1) return usage(EXPLAIN_USAGE, 2, 'legible explain: name one records file');
  const records = readRecordsFile(positionals[0]!);
  const layer = recordsAsLayer(records);
  const top = count(values.top, 20, '--top');
  const random = count(values.random, 20, '--random');
  if (top + random === 0) throw new InvalidInputError('--top and --random are both 0: the explainer would see no sequence');
  const seed = count(values.seed, 1, '--seed');
  const context = { store: openStore(stateDir()), usage: noUsage() };
  const explainer = explainerFor(provider(values.explainer, 'explainer'), context);
  const [explanation] = await explainer.explain([{ records: unitRecords(layer, 0, top, random, seed) }]);
  const label = explanation!.label;
  const score = await scoreLabel(label, records, provider(values.simulator, 'simulator'), context);
  print(values.json ?? false, label, score, `label: ${label}\nscore on these records (not held out): ${score.toFixed(4)}`);
  return 0;
}

export async function scoreCommand(args: string[]): Promise<number> {
  const parsed = options('score', args, { ...COMMON, label: { type: 'string' } }, SCORE_USAGE);
  if (!parsed) return 2;
  const { values, positionals } = parsed as { values: { help?: boolean; json?: boolean; simulator?: string; label?: string }; positionals: string[] };
  if (values.help) return usage(SCORE_USAGE, 0);
  if (positionals.length !== 1) return usage(SCORE_USAGE, 2, 'legible score: name one records file');
  if (!values.label?.trim()) return usage(SCORE_USAGE, 2, 'legible score: give the label to score with --label "TEXT"');
  const records = readRecordsFile(positionals[0]!);
  const score = await scoreLabel(values.label, records, provider(values.simulator, 'simulator'), { store: openStore(stateDir()), usage: noUsage() });
  print(values.json ?? false, values.label, score, `score: ${score.toFixed(4)}`);
  return 0;
}

/** The pooled correlation of the records' activations with the label's simulation, over every token. */
async function scoreLabel(label: string, records: { tokens: string[]; activations: number[] }[], settings: Provider, context: { store: ArtifactStore; usage: ReturnType<typeof noUsage> }): Promise<number> {
  const simulator = simulatorFor(settings, context);
  const simulated = await simulator.simulate(label, records.map((r) => r.tokens));
  for (const note of simulator.notes ?? []) console.error(`note: ${note}`);
  const truth = records.flatMap((r) => r.activations);
  const predicted = simulated.flat();
  // A constant series correlates with nothing: say which one, rather than let 0 pass for a measured score.
  const constant = (xs: number[]) => pearson(xs, xs) === 0;
  if (constant(predicted)) console.error(`note: the simulator predicts ${predicted[0] ?? 0} for every token: it found nothing in "${label}" to apply to these tokens, so the score is 0 by definition`);
  if (constant(truth)) console.error('note: the activations are the same on every token, so no label can score above 0 on these records');
  return pearson(truth, predicted);
}

/** The explainer or simulator of a pipeline file, or the embedded provider. */
function provider(file: string | undefined, which: 'explainer' | 'simulator'): Provider {
  if (file === undefined) return EMBEDDED_PROVIDER;
  try {
    return loadPipelineFile(file).pipeline[which];
  } catch (err) {
    if (err instanceof PipelineError) throw new InvalidInputError(err.message);
    throw err;
  }
}

function count(value: string | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new InvalidInputError(`${option} "${value}" is not a whole number`);
  return Number(value);
}

function print(json: boolean, label: string, score: number, text: string): void {
  console.log(json ? JSON.stringify({ label, score: Math.round(score * 1e4) / 1e4 }) : text);
}

function usage(text: string, code: number, problem?: string): number {
  if (problem) console.error(`${problem}\n`);
  (code === 0 ? console.log : console.error)(text);
  return code;
}
