// Activation records from a file: one sequence per line of JSONL, `{"tokens": [...], "activations": [...]}`, tokens
// exactly as a tokenizer wrote them (leading spaces, capitals, sub-word pieces), one activation per token. This is
// the record format of OpenAI's neuron-explainer (its ActivationRecord), so its records work as they are. Every bad
// line is reported as `file:line: what is wrong`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../data/errors';
import type { ActivationRecord, LayerActivations } from './records';

const RecordLine = z.object({
  tokens: z.array(z.string()).min(1, 'no tokens'),
  activations: z.array(z.number().refine(Number.isFinite, 'not a finite number')),
});

/** Reads and checks a JSONL file of activation records. Throws InvalidInputError naming every bad line. */
export function readRecordsFile(file: string): ActivationRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const records: ActivationRecord[] = [];
  const problems: string[] = [];
  text.replace(/^\uFEFF/, '').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      problems.push(`${where}: not JSON (${(err as Error).message})`);
      return;
    }
    const parsed = RecordLine.safeParse(json);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => `${where}: ${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`));
      return;
    }
    const { tokens, activations } = parsed.data;
    if (tokens.length !== activations.length) {
      problems.push(`${where}: ${tokens.length} tokens but ${activations.length} activations`);
      return;
    }
    records.push({ tokens, activations });
  });
  if (problems.length > 0) throw new InvalidInputError(problems.slice(0, 20).join('\n') + (problems.length > 20 ? `\n… and ${problems.length - 20} more` : ''));
  if (records.length === 0) throw new InvalidInputError(`${file}: no records (one JSON object per line: {"tokens": [...], "activations": [...]})`);
  return records;
}

/** The records as one unit's activations over their sequences (width 1), so they can be sampled and scored. */
export function recordsAsLayer(records: ActivationRecord[]): LayerActivations {
  const starts = new Int32Array(records.length + 1);
  records.forEach((r, i) => (starts[i + 1] = starts[i]! + r.tokens.length));
  return { width: 1, activations: Float32Array.from(records.flatMap((r) => r.activations)), starts, words: records.flatMap((r) => r.tokens) };
}
