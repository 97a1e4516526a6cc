// Explanation scoring as in "Language models can explain neurons in language models" (Bills et al., OpenAI, 2023):
// the Pearson correlation between a unit's true activations and the activations simulated from its label. Three
// token sets: every token of the scoring text ("all tokens", the primary figure: the same tokens for every unit and
// for before and after), the unit's top-activating and random sentences ("top-and-random") and the random sentences
// alone ("random-only"). The sentences of the last two are chosen once, from the activations before alignment, and
// reused after it, so before and after are measured on the same tokens. A constant series carries no information
// and scores 0. Group means get 95% intervals from a bootstrap over sentences and neurons (stats/bootstrap.ts).
import { Rng } from '../data/rng';
import { drawWithReplacement, meanEstimate, percentileInterval, RESAMPLES, type Estimate, type Interval } from '../stats/bootstrap';
import { detectionScores } from './detection';
import { selectSentences, sentenceCount, type LayerActivations } from './records';

/** Below this share of its mean square, a series' variance is taken as zero (relative, so any scale works). */
const CONSTANT = 1e-10;

/** Pearson's r of two series of the same length; 0 where either is constant (relative to its own scale). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw new Error(`pearson: lengths differ (${n} and ${b.length})`);
  if (n === 0) return 0;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  let qa = 0;
  let qb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
    qa += a[i]! * a[i]!;
    qb += b[i]! * b[i]!;
  }
  // Constant: no spread beyond the rounding of a two-pass variance (relative to the mean's size, so neither tiny
  // activations nor a large offset are mistaken for it).
  if (va <= 1e-24 * qa || vb <= 1e-24 * qb) return 0;
  return cov / Math.sqrt(va * vb);
}

export interface UnitScore {
  unit: number;
  /** Correlation over every token of the scoring text: the primary figure. */
  allTokens: number;
  /** Its 95% interval (bootstrap over sentences), where the score is one a run reports. */
  allTokensCi95?: Interval;
  topAndRandom: number;
  randomOnly: number;
  /** The simulation is constant on the random sentences, so random-only is 0 by definition and says nothing. */
  constantOnRandom: boolean;
  /** Detection, fuzzing (balanced accuracies) and AUC on every token of the text (interp/detection.ts); NaN where undefined. Absent in reports written before they existed. */
  detection?: number;
  fuzzing?: number;
  auc?: number;
}

export interface ScoringOptions {
  /** Top-activating and random sentences per unit, and the seed of the random draw. */
  top: number;
  random: number;
  seed: number;
  /**
   * The activations the sentences are chosen from (same sentences as `truth`): the model before alignment, when
   * scoring after it. Default: `truth` itself.
   */
  chooseFrom?: LayerActivations;
}

/**
 * Scores one unit. `simulated` holds the simulation for every token of `truth` (same layout: one value per token,
 * 0 to 10). Throws if `chooseFrom` covers other sentences than `truth`.
 */
export function scoreUnit(truth: LayerActivations, simulated: Float32Array, unit: number, o: ScoringOptions): UnitScore {
  const from = o.chooseFrom ?? truth;
  if (from.starts.length !== truth.starts.length || from.starts.at(-1) !== truth.starts.at(-1))
    throw new Error('scoreUnit: the activations the sentences are chosen from cover other sentences than the ones scored');
  const chosen = selectSentences(from, unit, o.top, o.random, o.seed);
  const gather = (sentences: number[]) => {
    const t: number[] = [];
    const s: number[] = [];
    for (const i of sentences) {
      for (let k = truth.starts[i]!; k < truth.starts[i + 1]!; k++) {
        t.push(truth.activations[k * truth.width + unit]!);
        s.push(simulated[k]!);
      }
    }
    return { t, s };
  };
  const every = truth.words.length;
  const column = new Float32Array(every);
  for (let k = 0; k < every; k++) column[k] = truth.activations[k * truth.width + unit]!;
  const all = gather([...chosen.top, ...chosen.random]);
  const rnd = gather(chosen.random);
  return {
    unit,
    allTokens: pearson(column, simulated.subarray(0, every)),
    topAndRandom: pearson(all.t, all.s),
    randomOnly: pearson(rnd.t, rnd.s),
    constantOnRandom: rnd.s.length === 0 || pearson(rnd.s, rnd.s) === 0,
    ...detectionScores(truth, simulated, unit, o.seed),
  };
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Per-sentence sums of one unit's true (t) and simulated (s) activations: n, Σt, Σs, Σt², Σs², Σts for every
 * sentence, so that the pooled correlation over any multiset of sentences is a sum away. Layout: [sentence × 6].
 */
export function sentenceSums(truth: LayerActivations, simulated: Float32Array, unit: number): Float64Array {
  const n = sentenceCount(truth);
  const out = new Float64Array(n * 6);
  for (let i = 0; i < n; i++) {
    for (let k = truth.starts[i]!; k < truth.starts[i + 1]!; k++) {
      const t = truth.activations[k * truth.width + unit]!;
      const s = simulated[k]!;
      const o = i * 6;
      out[o] += 1;
      out[o + 1] += t;
      out[o + 2] += s;
      out[o + 3] += t * t;
      out[o + 4] += s * s;
      out[o + 5] += t * s;
    }
  }
  return out;
}

/** Pearson's r from pooled sums (n, Σt, Σs, Σt², Σs², Σts); 0 where either series is constant. */
function pearsonFromSums(n: number, st: number, ss: number, stt: number, sss: number, sts: number): number {
  if (n === 0) return 0;
  const va = stt - (st * st) / n;
  const vb = sss - (ss * ss) / n;
  if (va <= CONSTANT * stt || vb <= CONSTANT * sss) return 0;
  return (sts - (st * ss) / n) / Math.sqrt(va * vb);
}

/** The mean all-tokens score of a group of units, each given its per-sentence sums; optionally minus a baseline's. */
export interface GroupSums {
  /** Per unit of the group, [sentence × 6] (see sentenceSums). Every unit covers the same sentences. */
  sums: Float64Array[];
}

/**
 * The mean all-tokens correlation of a group of units, with a 95% interval from a two-level bootstrap: each
 * replicate resamples the sentences (the same draw for every unit) and the units, both with replacement. With
 * `baseline` (the same units' sums on the same sentences, e.g. before alignment), the figure is the mean paired
 * difference group − baseline under the same draws. An empty group gives NaN.
 */
export function groupAllTokens(group: GroupSums, seed: number, baseline?: GroupSums, resamples = RESAMPLES): Estimate {
  const units = group.sums.length;
  if (units === 0) return { value: NaN, ci95: [NaN, NaN] };
  if (baseline && baseline.sums.length !== units) throw new Error('groupAllTokens: the baseline covers another number of units');
  const sentences = group.sums[0]!.length / 6;
  const scoreOf = (sums: Float64Array, draw: ArrayLike<number>) => {
    let n = 0, st = 0, ss = 0, stt = 0, sss = 0, sts = 0;
    for (let j = 0; j < draw.length; j++) {
      const o = draw[j]! * 6;
      n += sums[o]!;
      st += sums[o + 1]!;
      ss += sums[o + 2]!;
      stt += sums[o + 3]!;
      sss += sums[o + 4]!;
      sts += sums[o + 5]!;
    }
    return pearsonFromSums(n, st, ss, stt, sss, sts);
  };
  const perUnit = (draw: ArrayLike<number>) =>
    group.sums.map((s, u) => scoreOf(s, draw) - (baseline ? scoreOf(baseline.sums[u]!, draw) : 0));
  const everySentence = Int32Array.from({ length: sentences }, (_, i) => i);
  const value = mean(perUnit(everySentence));
  const rng = new Rng(seed);
  const replicates = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const scores = perUnit(drawWithReplacement(rng, sentences));
    const pick = drawWithReplacement(rng, units);
    let sum = 0;
    for (const u of pick) sum += scores[u]!;
    replicates[r] = sum / units;
  }
  return { value, ci95: percentileInterval(replicates) };
}

/** A group's scores on one text: means with 95% intervals, and how many units had a constant random simulation. */
export interface GroupScores {
  units: number;
  /** Mean all-tokens score; interval over sentences and units. */
  allTokens: Estimate;
  /** Mean top-and-random and random-only scores; intervals over units. */
  topAndRandom: Estimate;
  randomOnly: Estimate;
  /** Units whose simulation is constant on their random sentences (their random-only score is 0 by definition). */
  constantOnRandom: number;
  /**
   * Mean detection, fuzzing and AUC over the units where each is defined (detection is not for a neuron that fires
   * in every sentence or in none; see interp/detection.ts); intervals over units; `defined` counts those units.
   */
  detection?: Estimate;
  fuzzing?: Estimate;
  auc?: Estimate;
  defined?: { detection: number; fuzzing: number; auc: number };
}

/** Summarises the scores of one group of units (their per-sentence sums in `sums`, in the order of `scores`). */
export function groupScores(scores: UnitScore[], sums: GroupSums, seed: number): GroupScores {
  return {
    units: scores.length,
    allTokens: groupAllTokens(sums, seed),
    topAndRandom: meanEstimate(scores.map((s) => s.topAndRandom), seed + 1),
    randomOnly: meanEstimate(scores.map((s) => s.randomOnly), seed + 2),
    constantOnRandom: scores.filter((s) => s.constantOnRandom).length,
    detection: meanEstimate(defined(scores.map((s) => s.detection)), seed + 3),
    fuzzing: meanEstimate(defined(scores.map((s) => s.fuzzing)), seed + 4),
    auc: meanEstimate(defined(scores.map((s) => s.auc)), seed + 5),
    defined: { detection: defined(scores.map((s) => s.detection)).length, fuzzing: defined(scores.map((s) => s.fuzzing)).length, auc: defined(scores.map((s) => s.auc)).length },
  };
}

function defined(xs: (number | undefined)[]): number[] {
  return xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
}
