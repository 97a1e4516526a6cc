// The shape of a label, whoever wrote it: does it name a concept, or is it a bare list of words, and how many words
// does it list (quoted words outside the examples after "e.g." or "such as")? Reports show, per layer, the share of
// legible neurons with concept labels and the mean number of listed words.
import { isWordList } from './embedded/explainer';
import { readLabel } from './embedded/labels';

export interface LabelShape {
  concept: boolean;
  listedWords: number;
}

export function labelShape(label: string): LabelShape {
  const concept = readLabel(label);
  const listed = label
    .split(/\s+or\s+|,?\s+but not\s+/)
    .map((clause) => clause.replace(/(?:\be\.g\.|\beg\.|\bfor example\b|\bfor instance\b|\bsuch as\b|\blike\b|\bincluding\b).*$/i, ''))
    .reduce((n, clause) => n + (clause.match(/"[^"]+"/g)?.length ?? 0), 0);
  return { concept: concept.kind !== 'nothing' && !isWordList(concept), listedWords: listed };
}
