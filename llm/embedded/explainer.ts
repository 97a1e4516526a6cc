// The embedded explainer: labels a unit with the WordNet concept whose indicator best matches the unit's
// activations on its top-activating and random examples, and writes that concept as readable text.
// Deterministic and offline: it plays the part of the language model in the explain step.
import type { UnitRecords } from '../../interp/records';
import { pearson } from '../../interp/scoring';
import type { Explainer, Explanation } from '../provider';
import { covers, describe, featuresOf, isFunctionWord, SUFFIXES, synsetDepth, type Concept } from './concepts';

/** Tokens with at least this share of the unit's maximum activation are the ones a concept must explain. */
const HOT = 0.5;
/** Per listed word, a word-set concept must beat a WordNet concept by this much correlation to be chosen. */
const WORD_PENALTY = 0.02;
const MAX_LISTED_WORDS = 8;

export class EmbeddedExplainer implements Explainer {
  readonly name = 'embedded';

  async explain(units: UnitRecords[]): Promise<Explanation[]> {
    return units.map((u) => ({ unit: u.unit, label: explainUnit(u) }));
  }
}

export function explainUnit(u: UnitRecords): string {
  const words: string[] = [];
  const acts: number[] = [];
  for (const r of [...u.top, ...u.random]) {
    words.push(...r.tokens);
    acts.push(...r.activations);
  }
  const max = Math.max(0, ...acts);
  if (max <= 0) return describe({ kind: 'nothing' }, []);

  // Distinct hot words, most active first.
  const totals = new Map<string, { sum: number; n: number }>();
  words.forEach((w, i) => {
    if (acts[i]! < HOT * max) return;
    const t = totals.get(w) ?? { sum: 0, n: 0 };
    t.sum += acts[i]!;
    t.n++;
    totals.set(w, t);
  });
  const hot = [...totals.entries()].sort((a, b) => b[1].sum / b[1].n - a[1].sum / a[1].n || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);

  const candidates: { concept: Concept; penalty: number }[] = [];
  const seen = new Set<string>();
  const add = (concept: Concept, penalty: number) => {
    const key = JSON.stringify(concept);
    if (!seen.has(key)) {
      seen.add(key);
      candidates.push({ concept, penalty });
    }
  };
  for (const w of hot.slice(0, 30)) {
    const f = featuresOf(w);
    for (const lexname of f.categories) add({ kind: 'category', lexname }, 0);
    for (const synset of f.ancestors) if (synsetDepth(synset) >= 3) add({ kind: 'hypernym', synset }, 0.001);
    for (const suffix of SUFFIXES) if (covers({ kind: 'suffix', suffix }, w)) add({ kind: 'suffix', suffix }, 0.002);
  }
  for (let k = 1; k <= Math.min(MAX_LISTED_WORDS, hot.length); k++) add({ kind: 'words', words: hot.slice(0, k) }, WORD_PENALTY * k);

  let best = candidates[0]!;
  let bestScore = -Infinity;
  for (const c of candidates) {
    const score = pearson(acts, words.map((w) => (covers(c.concept, w) ? 1 : 0))) - c.penalty;
    if (score > bestScore) {
      best = c;
      bestScore = score;
    }
  }
  const examples = best.concept.kind === 'words' ? [] : hot.filter((w) => covers(best.concept, w) && !isFunctionWord(w));
  return describe(best.concept, examples);
}
