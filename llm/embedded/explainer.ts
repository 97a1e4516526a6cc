// The embedded explainer: labels a unit with the WordNet concept, or combination of two ("A or B", "A, but not B"),
// whose indicator best matches the unit's activations on its top-activating and random examples, and writes it as
// readable text. Concepts named by the labels of its strongest incoming neurons are candidates too. Deterministic
// and offline: it plays the part of the language model in the explain step.
import { SPECIAL } from '../../data/corpus';
import { pearson } from '../../interp/scoring';
import type { Explainer, ExplainRequest, Explanation } from '../types';
import { covers, describe, featuresOf, isFunctionWord, readLabel, SUFFIXES, synsetDepth, type Concept } from './concepts';

/** Tokens with at least this share of the unit's maximum activation are the ones a concept must explain. */
const HOT = 0.5;
/** Per listed word, a word-set concept must beat a WordNet concept by this much correlation to be chosen. */
const WORD_PENALTY = 0.02;
/** A combination of two concepts must beat the better of them by this much. */
const COMBINATION_PENALTY = 0.03;
const MAX_LISTED_WORDS = 8;
/** How many of the best single concepts are tried in combinations. */
const COMBINE_BEST = 12;

export class EmbeddedExplainer implements Explainer {
  readonly name = 'embedded';

  async explain(requests: ExplainRequest[]): Promise<Explanation[]> {
    return requests.map((r) => ({ unit: r.records.unit, label: explainUnit(r) }));
  }
}

interface Candidate {
  concept: Concept;
  penalty: number;
  /** 1 where the concept covers the token. */
  indicator: Float64Array;
  score: number;
}

export function explainUnit(req: ExplainRequest): string {
  const words: string[] = [];
  const acts: number[] = [];
  for (const r of [...req.records.top, ...req.records.random]) {
    words.push(...r.tokens);
    acts.push(...r.activations);
  }
  const max = Math.max(0, ...acts);
  if (max <= 0) return describe({ kind: 'nothing' }, []);

  // Distinct hot words, most active first.
  const totals = new Map<string, { sum: number; n: number }>();
  words.forEach((w, i) => {
    // A label never names the unknown word or a sentence boundary: they are not words a reader knows.
    if (acts[i]! < HOT * max || SPECIAL.includes(w)) return;
    const t = totals.get(w) ?? { sum: 0, n: 0 };
    t.sum += acts[i]!;
    t.n++;
    totals.set(w, t);
  });
  const hot = [...totals.entries()].sort((a, b) => b[1].sum / b[1].n - a[1].sum / a[1].n || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);

  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  const consider = (concept: Concept, penalty: number, indicator = Float64Array.from(words, (w) => (covers(concept, w) ? 1 : 0))) => {
    const key = JSON.stringify(concept);
    if (seen.has(key)) return;
    seen.add(key);
    candidates.push({ concept, penalty, indicator, score: pearson(acts, indicator) - penalty });
  };
  for (const w of hot.slice(0, 30)) {
    const f = featuresOf(w);
    for (const lexname of f.categories) consider({ kind: 'category', lexname }, 0);
    for (const synset of f.ancestors) if (synsetDepth(synset) >= 3) consider({ kind: 'hypernym', synset }, 0.001);
    for (const suffix of SUFFIXES) if (covers({ kind: 'suffix', suffix }, w)) consider({ kind: 'suffix', suffix }, 0.002);
  }
  for (let k = 1; k <= Math.min(MAX_LISTED_WORDS, hot.length); k++) consider({ kind: 'words', words: hot.slice(0, k) }, WORD_PENALTY * k);
  for (const n of req.incoming ?? []) if (n.weight > 0) consider(readLabel(n.label), 0);

  const singles = [...candidates].sort((a, b) => b.score - a.score).slice(0, COMBINE_BEST);
  for (const a of singles) {
    for (const b of singles) {
      if (a === b) continue;
      const penalty = a.penalty + b.penalty + COMBINATION_PENALTY;
      if (JSON.stringify(a.concept) < JSON.stringify(b.concept))
        consider({ kind: 'anyOf', parts: [a.concept, b.concept] }, penalty, a.indicator.map((x, i) => Math.max(x, b.indicator[i]!)));
      consider({ kind: 'except', base: a.concept, except: b.concept }, penalty, a.indicator.map((x, i) => x * (1 - b.indicator[i]!)));
    }
  }

  if (candidates.length === 0) return describe({ kind: 'nothing' }, []);
  const best = candidates.reduce((x, y) => (y.score > x.score ? y : x));
  const examples = hot.filter((w) => covers(best.concept, w) && !isFunctionWord(w));
  return describe(best.concept, best.concept.kind === 'words' ? [] : examples);
}
