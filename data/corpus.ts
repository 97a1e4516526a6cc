// The corpus: real text (WordNet's glosses, the Brown corpus, or the user's files: data/sources.ts), cut into
// sequences (sentences, or fixed-length windows of each document), tokenised (lower-case words, or GPT-2's BPE:
// data/tokenizers.ts), deduplicated, sampled with the pipeline's seed, given a vocabulary, and split into disjoint
// sets: training text, held-out text for the task metric, and the sentence sets that explanations are made and
// scored on. WordNet repeats glosses word for word; duplicates are removed (after tokenisation) before anything is
// split, and held-out sequences that repeat a training one as the model reads it (rare tokens as <unk>) are
// dropped, so no held-out sequence also appears in the training text.
import type { Pipeline } from '../pipelines/schema';
import type { Bundle } from '../store/artifacts';
import { InvalidInputError } from './errors';
import { Rng } from './rng';
import { sourceDocuments, wordNetGlossDocuments, type SourceDocument } from './sources';
import { tokenise, tokenizer, type TokenizerName } from './tokenizers';

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
  /** How the text was tokenised: lower-case words, or GPT-2 tokens with their leading spaces (" river"). */
  tokenizer: TokenizerName;
  /** How the text was cut into sequences: sentences, or windows of corpus.maxTokens tokens. */
  segment: 'sentences' | 'windows';
  vocabulary: string[];
  sentences: number;
  tokens: number;
  splitSizes: Record<SplitName, { sentences: number; tokens: number }>;
  /** Held-out sentences dropped because, with rare words as <unk>, they repeat a training (or held-out) sentence. */
  heldOutRepeats?: number;
  /** Share of the held-out tokens outside the vocabulary (read as <unk>, and predicted as <unk>). */
  heldOutUnknownShare?: number;
}

/** A corpus in memory: every sentence's token ids, concatenated, with sentence offsets. */
export interface Corpus {
  meta: CorpusMeta;
  tokens: Int32Array;
  /** offsets[i]..offsets[i+1] are sentence i's tokens. */
  offsets: Int32Array;
  splits: Record<SplitName, Int32Array>;
}

/** Every gloss and example sentence of WordNet, in file order, as lower-case words (sentences without words dropped). */
export function wordNetSentences(): string[][] {
  return wordNetGlossDocuments()
    .flatMap((d) => d.sentences())
    .map(tokenise)
    .filter((words) => words.length > 0);
}

/** The sequences one document gave, for the message when there are too few. */
export interface SequenceCount {
  document: SourceDocument;
  /** Sentences (segment sentences) or tokens (segment windows) the document holds. */
  units: number;
  /** Sequences of the allowed length it gave: sentences of minTokens to maxTokens tokens, or windows. */
  sequences: number;
}

/**
 * The token sequences of the corpus's source, in source order, before deduplication: with segment `sentences`,
 * every sentence of minTokens to maxTokens tokens; with segment `windows`, each document's tokens cut into
 * consecutive windows of exactly maxTokens (a shorter remainder at a document's end is dropped). Also how many
 * each document gave. Throws InvalidInputError (source files) as sourceDocuments does.
 */
export function corpusSequences(corpus: Pipeline['corpus']): { sequences: string[][]; counts: SequenceCount[] } {
  const tokenize = tokenizer(corpus.tokenizer);
  const sequences: string[][] = [];
  const counts: SequenceCount[] = [];
  for (const document of sourceDocuments(corpus)) {
    const before = sequences.length;
    let units = 0;
    if (corpus.segment === 'windows') {
      const tokens = tokenize(document.text());
      units = tokens.length;
      for (let at = 0; at + corpus.maxTokens <= tokens.length; at += corpus.maxTokens) sequences.push(tokens.slice(at, at + corpus.maxTokens));
    } else {
      for (const text of document.sentences()) {
        units++;
        const tokens = tokenize(text);
        if (tokens.length >= corpus.minTokens && tokens.length <= corpus.maxTokens) sequences.push(tokens);
      }
    }
    counts.push({ document, units, sequences: sequences.length - before });
  }
  return { sequences, counts };
}

/**
 * The corpus of a pipeline: its source's text cut into sequences (corpusSequences), deduplicated, `corpus.sentences`
 * of them sampled with the pipeline's seed, a vocabulary (<s>, </s>, <unk>, then the most frequent training tokens,
 * up to model.vocabularySize), token ids, and the named splits (SPLITS). Throws InvalidInputError, before anything
 * trains, when the source cannot be read, gives fewer distinct sequences than corpus.sentences (for source files,
 * the message gives each file's sentences), or too few held-out sequences for interpretability.scoringSequences.
 */
export function buildCorpus(p: Pipeline): Corpus {
  const { corpus } = p;
  const rng = new Rng(p.seed);
  const { sequences, counts } = corpusSequences(corpus);
  const eligible = distinct(sequences);
  if (eligible.length < corpus.sentences) throw new InvalidInputError(tooFewSequences(corpus, eligible.length, counts));
  const sampled = rng.sample(eligible, corpus.sentences);

  // The split sizes were checked against each other when the pipeline was validated.
  const heldOutCount = Math.round(sampled.length * corpus.heldOutFraction);
  const trainCount = sampled.length - heldOutCount;
  const train = sampled.slice(0, trainCount);

  // Vocabulary: the most frequent training words, ties broken alphabetically so it is the same on every machine.
  const tokenCounts = new Map<string, number>();
  for (const s of train) for (const w of s) tokenCounts.set(w, (tokenCounts.get(w) ?? 0) + 1);
  const words = [...tokenCounts.entries()]
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
  const heldOutTokens = tokens.subarray(offsets[trainCount]!);
  const heldOutUnknownShare = heldOutTokens.reduce((n, t) => n + (t === UNK ? 1 : 0), 0) / Math.max(1, heldOutTokens.length);
  return {
    meta: { source: corpus.source, tokenizer: corpus.tokenizer, segment: corpus.segment, vocabulary, sentences: sentences.length, tokens: tokens.length, splitSizes, heldOutRepeats: heldOutCount - heldOut.length, heldOutUnknownShare },
    tokens,
    offsets,
    splits,
  };
}

/** The message for a source with fewer distinct sequences than corpus.sentences: what it gave, and from where. */
function tooFewSequences(corpus: Pipeline['corpus'], distinctCount: number, counts: SequenceCount[]): string {
  const unit = corpus.tokenizer === 'words' ? 'words' : 'tokens';
  const what =
    corpus.segment === 'windows'
      ? `${distinctCount} distinct windows of ${corpus.maxTokens} ${unit}`
      : `${distinctCount} distinct sentences of ${corpus.minTokens} to ${corpus.maxTokens} ${unit}`;
  let message = `corpus.sentences: the source has only ${what}, ${corpus.sentences} asked for`;
  if (corpus.source === 'files') {
    const perFile = new Map<string, { units: number; sequences: number }>();
    for (const c of counts) {
      const f = perFile.get(c.document.file!) ?? { units: 0, sequences: 0 };
      f.units += c.units;
      f.sequences += c.sequences;
      perFile.set(c.document.file!, f);
    }
    const shown = [...perFile.entries()].slice(0, 10).map(([file, f]) =>
      corpus.segment === 'windows' ? `${file}: ${f.units} ${unit}, ${f.sequences} windows` : `${file}: ${f.units} sentences, ${f.sequences} of ${corpus.minTokens} to ${corpus.maxTokens} ${unit}`,
    );
    if (perFile.size > 10) shown.push(`and ${perFile.size - 10} more files`);
    message += ` (${perFile.size} file${perFile.size === 1 ? '' : 's'}: ${shown.join('; ')})`;
  }
  const remedy = corpus.segment === 'windows' ? 'add text, lower corpus.maxTokens' : 'add text, widen corpus.minTokens … maxTokens';
  return `${message}: ${remedy}, or lower corpus.sentences`;
}

/** The sentences with every repeat after the first removed (compared token for token), in their first order. */
export function distinct(sentences: string[][]): string[][] {
  const seen = new Set<string>();
  return sentences.filter((s) => {
    const key = s.join('\u0000'); // GPT-2 tokens hold spaces, so a space could not separate them
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
  // Corpora stored before there were tokenizers and segments were words and sentences.
  const meta: CorpusMeta = { ...b.meta, tokenizer: b.meta.tokenizer ?? 'words', segment: b.meta.segment ?? 'sentences' };
  return { meta, tokens: b.arrays.tokens as Int32Array, offsets: b.arrays.offsets as Int32Array, splits };
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
