// The embedded explainer: labels a unit with the concept, or combination of two ("A or B", "A, but not B"), whose
// coverage best matches the unit's activations on its top-activating and random examples, and writes it as one
// short, readable explanation. Concepts (WordNet categories and hypernyms, parts of speech, word forms, positions,
// word endings) are preferred: a bare list of words is chosen only where it beats every concept by a margin, and
// names at most `maxListedWords` words. Concepts named by the labels of its strongest incoming neurons are
// candidates too. Deterministic and offline: it plays the part of the language model in the explain step.
import { SPECIAL } from '../../data/corpus';
import { Rng } from '../../data/rng';
import { pearson } from '../../interp/scoring';
import type { Explainer, ExplainRequest, Explanation } from '../types';
import { alone, CATEGORY_PHRASES, covers, coverage, describe, featuresOf, isFunctionWord, SUFFIXES, synsetDepth, type Concept, type PartOfSpeech } from './concepts';
import { readLabel } from './labels';
import { sentenceWords, type WordInContext } from './words';

/** Tokens with at least this share of the unit's maximum activation are the ones a concept must explain. */
const HOT = 0.5;
/** Per listed word, a word-set concept must beat a concept by this much correlation to be chosen. */
const WORD_PENALTY = 0.05;
/** A combination of two concepts must beat the better of them by this much. */
const COMBINATION_PENALTY = 0.03;
/** How many of the best single concepts are tried in combinations. */
const COMBINE_BEST = 12;
export const MAX_LISTED_WORDS = 3;

const PARTS_OF_SPEECH: PartOfSpeech[] = ['noun', 'verb', 'adjective', 'adverb', 'pronoun', 'preposition', 'determiner', 'conjunction', 'number'];
const FORMS = ['plural', 'past', 'capitalised', 'digits', 'negation', 'punctuation', 'newline'] as const;
const POSITIONS = ['first', 'second', 'last'] as const;

export class EmbeddedExplainer implements Explainer {
  readonly name = 'embedded';

  constructor(private readonly maxListedWords = MAX_LISTED_WORDS) {}

  async explain(requests: ExplainRequest[]): Promise<Explanation[]> {
    return requests.map((r) => ({ unit: r.records.unit, label: explainUnit(r, this.maxListedWords) }));
  }
}

interface Candidate {
  concept: Concept;
  penalty: number;
  /** How far the concept covers each token (0 to 1). */
  indicator: Float64Array;
  score: number;
}

/** Is a concept a bare list of words (and nothing else)? */
export function isWordList(c: Concept): boolean {
  return c.kind === 'words' || ((c.kind === 'anyOf' || c.kind === 'allOf') && c.parts.every(isWordList));
}

export function explainUnit(req: ExplainRequest, maxListedWords = MAX_LISTED_WORDS): string {
  const words: (WordInContext | undefined)[] = [];
  const acts: number[] = [];
  for (const r of [...req.records.top, ...req.records.random]) {
    const s = sentenceWords(r.tokens);
    s.wordOfToken.forEach((w) => words.push(w < 0 ? undefined : s.words[w]));
    acts.push(...r.activations);
  }
  const max = Math.max(0, ...acts);
  if (max <= 0) return describe({ kind: 'nothing' }, []);

  // Distinct hot words, most active first. A label never names the unknown word or a sentence boundary.
  const totals = new Map<string, { sum: number; n: number }>();
  words.forEach((w, i) => {
    if (!w || acts[i]! < HOT * max || SPECIAL.includes(w.text)) return;
    const t = totals.get(w.text) ?? { sum: 0, n: 0 };
    t.sum += acts[i]!;
    t.n++;
    totals.set(w.text, t);
  });
  const hot = [...totals.entries()].sort((a, b) => b[1].sum / b[1].n - a[1].sum / a[1].n || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  const hotWords = words.filter((w, i): w is WordInContext => !!w && acts[i]! >= HOT * max);

  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  const consider = (concept: Concept, penalty: number, indicator = coverage(concept, words)) => {
    const key = JSON.stringify(concept);
    if (seen.has(key)) return;
    seen.add(key);
    candidates.push({ concept, penalty, indicator, score: pearson(acts, indicator) - penalty });
  };
  for (const w of hot.slice(0, 30)) {
    const f = featuresOf(w);
    // Candidates come from the words' most frequent senses (their other senses still count where a concept covers them).
    for (const [lexname, weight] of f.categories) if (weight === 1) consider({ kind: 'category', lexname }, 0);
    for (const [synset, weight] of f.ancestors) if (weight === 1 && synsetDepth(synset) >= 3) consider({ kind: 'hypernym', synset }, 0.001);
    for (const suffix of SUFFIXES) if (covers({ kind: 'suffix', suffix }, alone(w))) consider({ kind: 'suffix', suffix }, 0.002);
  }
  for (const pos of PARTS_OF_SPEECH) if (hotWords.some((w) => covers({ kind: 'pos', pos }, w) > 0)) consider({ kind: 'pos', pos }, 0.002);
  for (const form of FORMS) if (hotWords.some((w) => covers({ kind: 'form', form }, w) > 0)) consider({ kind: 'form', form }, 0.002);
  for (const position of POSITIONS) if (hotWords.some((w) => covers({ kind: 'position', position }, w) > 0)) consider({ kind: 'position', position }, 0.002);
  for (let k = 1; k <= Math.min(maxListedWords, hot.length); k++) consider({ kind: 'words', words: hot.slice(0, k) }, WORD_PENALTY * k);
  for (const n of req.incoming ?? []) if (n.weight > 0) consider(readLabel(n.label), 0);

  const singles = [...candidates].sort((a, b) => b.score - a.score).slice(0, COMBINE_BEST);
  for (const a of singles) {
    for (const b of singles) {
      if (a === b || contradicts(a.concept, b.concept)) continue;
      const penalty = a.penalty + b.penalty + COMBINATION_PENALTY;
      if (isWordList(a.concept) && isWordList(b.concept)) continue; // a longer word list, past the limit
      if (JSON.stringify(a.concept) < JSON.stringify(b.concept)) consider({ kind: 'anyOf', parts: [a.concept, b.concept] }, penalty, a.indicator.map((x, i) => Math.max(x, b.indicator[i]!)));
      consider({ kind: 'except', base: a.concept, except: b.concept }, penalty, a.indicator.map((x, i) => x * (1 - b.indicator[i]!)));
    }
  }

  if (candidates.length === 0) return describe({ kind: 'nothing' }, []);
  const best = candidates.reduce((x, y) => (y.score > x.score ? y : x));
  const examples = hot.filter((w) => covers(best.concept, alone(w)) > 0 && !isFunctionWord(w));
  return describe(best.concept, isWordList(best.concept) ? [] : examples);
}

/**
 * The single concepts the explainer can name without looking at any word: every WordNet category, part of speech,
 * word form and position. The random-label control draws from them.
 */
export function conceptVocabulary(): Concept[] {
  return [
    ...Object.keys(CATEGORY_PHRASES).map((lexname): Concept => ({ kind: 'category', lexname })),
    ...PARTS_OF_SPEECH.map((pos): Concept => ({ kind: 'pos', pos })),
    ...FORMS.map((form): Concept => ({ kind: 'form', form })),
    ...POSITIONS.map((position): Concept => ({ kind: 'position', position })),
  ];
}

/** `count` labels of concepts drawn at random (seeded; without repeats until the vocabulary is used up). */
export function randomConceptLabels(count: number, seed: number): string[] {
  const vocabulary = conceptVocabulary();
  const rng = new Rng(seed);
  const out: string[] = [];
  while (out.length < count) out.push(...rng.sample(vocabulary, Math.min(vocabulary.length, count - out.length)).map((c) => describe(c, [])));
  return out;
}

/** "A, but not B" where B takes back what A names (the same words, or a part of A's word list) says nothing true. */
function contradicts(a: Concept, b: Concept): boolean {
  if (a.kind === 'words' && b.kind === 'words') return b.words.some((w) => a.words.includes(w));
  return JSON.stringify(a) === JSON.stringify(b);
}
