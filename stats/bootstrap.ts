// Confidence intervals for every figure a run reports: the percentile bootstrap (Efron and Tibshirani, "An
// Introduction to the Bootstrap", 1993, ch. 13), resampling whole sentences (tokens of one sentence are not
// independent) and, for means over a group of neurons, the neurons too. Seeded, so a report is reproducible.
import { Rng } from '../data/rng';

/** A 95% interval: [low, high]. */
export type Interval = [number, number];

/** A figure with its 95% interval. */
export interface Estimate {
  value: number;
  ci95: Interval;
}

/** Resamples per interval: enough for a stable 2.5% / 97.5% percentile. */
export const RESAMPLES = 1000;
/** One seed for every bootstrap over a run's sentences, so that all its figures resample the same sentences. */
export const BOOTSTRAP_SEED = 1;

/** The 2.5% and 97.5% percentiles of a set of bootstrap replicates (linear interpolation between order statistics). */
export function percentileInterval(replicates: ArrayLike<number>): Interval {
  const sorted = Float64Array.from(replicates).sort();
  if (sorted.length === 0) return [NaN, NaN];
  const at = (q: number) => {
    const x = q * (sorted.length - 1);
    const i = Math.floor(x);
    return i + 1 < sorted.length ? sorted[i]! + (x - i) * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
  };
  return [at(0.025), at(0.975)];
}

/** `count` indices drawn uniformly with replacement from 0..n-1. */
export function drawWithReplacement(rng: Rng, n: number, count = n): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.int(n);
  return out;
}

/**
 * A ratio of sums, Σ numerator / Σ denominator, with its interval from resampling the items (sentences, say)
 * with replacement. With denominators of 1 it is the mean. Example: a held-out loss is Σ per-sentence loss /
 * Σ per-sentence tokens. Items: numerator and denominator have one entry each, in the same order.
 * Throws if the two lengths differ. An empty input gives NaN.
 */
export function ratioEstimate(numerator: ArrayLike<number>, denominator: ArrayLike<number>, seed: number, resamples = RESAMPLES): Estimate {
  const n = numerator.length;
  if (denominator.length !== n) throw new Error(`ratioEstimate: ${n} numerators but ${denominator.length} denominators`);
  const ratio = (idx: ArrayLike<number>) => {
    let a = 0;
    let b = 0;
    for (let i = 0; i < idx.length; i++) {
      a += numerator[idx[i]!]!;
      b += denominator[idx[i]!]!;
    }
    return a / b;
  };
  if (n === 0) return { value: NaN, ci95: [NaN, NaN] };
  const rng = new Rng(seed);
  const replicates = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) replicates[r] = ratio(drawWithReplacement(rng, n));
  return { value: ratio(Int32Array.from({ length: n }, (_, i) => i)), ci95: percentileInterval(replicates) };
}

/** The mean of a sample with its interval (resampling the values). Empty: NaN; one value: no interval (NaN). */
export function meanEstimate(values: ArrayLike<number>, seed: number, resamples = RESAMPLES): Estimate {
  const e = ratioEstimate(values, new Float64Array(values.length).fill(1), seed, resamples);
  return values.length < 2 ? { value: e.value, ci95: [NaN, NaN] } : e;
}

/** An estimate mapped through a monotone increasing function (perplexity = exp(loss)). */
export function mapEstimate(e: Estimate, f: (x: number) => number): Estimate {
  return { value: f(e.value), ci95: [f(e.ci95[0]), f(e.ci95[1])] };
}

/** Per-sentence sums of a per-token series: sentence j covers tokens starts[j]..starts[j+1]. */
export function perSentence(values: ArrayLike<number>, starts: Int32Array): Float64Array {
  const out = new Float64Array(starts.length - 1);
  for (let j = 0; j < out.length; j++) for (let k = starts[j]!; k < starts[j + 1]!; k++) out[j] += values[k]!;
  return out;
}

/** The number of tokens of each sentence: sentence j covers tokens starts[j]..starts[j+1]. */
export function sentenceLengths(starts: Int32Array): Float64Array {
  return Float64Array.from({ length: starts.length - 1 }, (_, j) => starts[j + 1]! - starts[j]!);
}
