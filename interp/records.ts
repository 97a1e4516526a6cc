// Activation records: the plain data explanations are made from and scored on (as in OpenAI's neuron-explainer).
// A record is one sentence's tokens with one unit's activation on each; a unit's records are its top-activating
// sentences and a seeded random sample of the others.
import { sentence, splitStarts, type Corpus, type SplitName } from '../data/corpus';
import { Rng } from '../data/rng';

export interface ActivationRecord {
  tokens: string[];
  activations: number[];
}

export interface UnitRecords {
  unit: number;
  top: ActivationRecord[];
  random: ActivationRecord[];
}

/**
 * One layer's activations over a set of sentences: `activations[k * width + u]` is unit u on the k-th token, and
 * sentence s covers tokens starts[s]..starts[s+1].
 */
export interface LayerActivations {
  width: number;
  activations: Float32Array;
  starts: Int32Array;
  /** Words of every token, in order. */
  words: string[];
}

export function sentenceCount(a: LayerActivations): number {
  return a.starts.length - 1;
}

export function recordOf(a: LayerActivations, unit: number, s: number): ActivationRecord {
  const tokens: string[] = [];
  const activations: number[] = [];
  for (let k = a.starts[s]!; k < a.starts[s + 1]!; k++) {
    tokens.push(a.words[k]!);
    activations.push(a.activations[k * a.width + unit]!);
  }
  return { tokens, activations };
}

/** Which sentences are a unit's top-activating ones (by their maximum) and which its random sample. */
export function selectSentences(a: LayerActivations, unit: number, top: number, random: number, seed: number): { top: number[]; random: number[] } {
  const n = sentenceCount(a);
  const maxOf = new Float32Array(n);
  for (let s = 0; s < n; s++) {
    let m = -Infinity;
    for (let k = a.starts[s]!; k < a.starts[s + 1]!; k++) m = Math.max(m, a.activations[k * a.width + unit]!);
    maxOf[s] = m;
  }
  const order = Array.from({ length: n }, (_, s) => s).sort((x, y) => maxOf[y]! - maxOf[x]! || x - y);
  const topSet = order.slice(0, Math.min(top, n));
  const rest = order.slice(topSet.length).sort((x, y) => x - y);
  return { top: topSet, random: new Rng(seed * 7919 + unit).sample(rest, Math.min(random, rest.length)) };
}

export function unitRecords(a: LayerActivations, unit: number, top: number, random: number, seed: number): UnitRecords {
  const chosen = selectSentences(a, unit, top, random, seed);
  return { unit, top: chosen.top.map((s) => recordOf(a, unit, s)), random: chosen.random.map((s) => recordOf(a, unit, s)) };
}

/** A layer's activations recorded on one split of a corpus ([tokens × width], in split order), with the words. */
export function activationsOnSplit(corpus: Corpus, split: SplitName, width: number, activations: Float32Array): LayerActivations {
  const ids = corpus.splits[split];
  const words: string[] = [];
  for (const s of ids) for (const t of sentence(corpus, s)) words.push(corpus.meta.vocabulary[t]!);
  return { width, activations, starts: splitStarts(corpus, ids), words };
}
