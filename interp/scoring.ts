// Explanation scoring as in "Language models can explain neurons in language models" (OpenAI, 2023): the Pearson
// correlation between a unit's true activations and the activations simulated from its label, over the tokens of
// its top-activating and random held-out sentences ("top-and-random") and of the random sentences alone
// ("random-only"). A constant simulation or activation carries no information and scores 0.
import { recordOf, selectSentences, type LayerActivations } from './records';

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
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  if (va <= 1e-12 * n || vb <= 1e-12 * n) return 0;
  return cov / Math.sqrt(va * vb);
}

export interface UnitScore {
  unit: number;
  topAndRandom: number;
  randomOnly: number;
}

/**
 * Scores one unit. `simulated` holds the simulation for every token of `truth` (same layout, one value per token).
 */
export function scoreUnit(
  truth: LayerActivations,
  simulated: Float32Array,
  unit: number,
  examples: { top: number; random: number; seed: number },
): UnitScore {
  const chosen = selectSentences(truth, unit, examples.top, examples.random, examples.seed);
  const gather = (sentences: number[]) => {
    const t: number[] = [];
    const s: number[] = [];
    for (const i of sentences) {
      t.push(...recordOf(truth, unit, i).activations);
      for (let k = truth.starts[i]!; k < truth.starts[i + 1]!; k++) s.push(simulated[k]!);
    }
    return { t, s };
  };
  const all = gather([...chosen.top, ...chosen.random]);
  const rnd = gather(chosen.random);
  return { unit, topAndRandom: pearson(all.t, all.s), randomOnly: pearson(rnd.t, rnd.s) };
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}
