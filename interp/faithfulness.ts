// Substitution: is the label the neuron? Replace a group of neurons' activations by what their labels predict (each
// label's simulation mapped to its neuron's scale by a least-squares line fitted on other text) and measure the
// task loss, against the clean model and against ablating the same neurons (to zero, or to each one's mean). The
// recovered fraction is (L_ablated − L_substituted) / (L_ablated − L_clean): 1 when the labels stand in for the
// neurons perfectly, 0 when they do no better than ablation. Method: "Partially Rewriting a Transformer in Natural
// Language" (Paulo and Belrose, 2025, arXiv 2501.18838), which substitutes post-hoc explanations' simulations.
import { InvalidInputError } from '../data/errors';
import type { Examples, Intervention, LanguageModel } from '../nn/language-model';
import { tokenLosses } from '../nn/train';
import { BOOTSTRAP_SEED, perSentence, ratioEstimate, sentenceLengths, type Estimate } from '../stats/bootstrap';

/** activation ≈ slope · simulation + intercept, fitted by least squares. */
export interface Line {
  slope: number;
  intercept: number;
}

/**
 * The least-squares line from one unit's simulation (n values, 0 to 10) to its activations (column `unit` of
 * `activations`, [n × width]). A constant simulation gets slope 0 and the activations' mean as intercept, so that
 * substituting it is mean ablation.
 */
export function fitLine(simulation: ArrayLike<number>, activations: Float32Array, width: number, unit: number): Line {
  const n = simulation.length;
  if (n * width !== activations.length) throw new Error(`fitLine: ${n} simulated tokens but ${activations.length / width} recorded ones`);
  let ms = 0;
  let ma = 0;
  for (let k = 0; k < n; k++) {
    ms += simulation[k]!;
    ma += activations[k * width + unit]!;
  }
  ms /= n;
  ma /= n;
  let cov = 0;
  let vs = 0;
  for (let k = 0; k < n; k++) {
    const ds = simulation[k]! - ms;
    cov += ds * (activations[k * width + unit]! - ma);
    vs += ds * ds;
  }
  // A simulation without spread (relative to its size) carries nothing to fit a slope to.
  const slope = vs > 1e-12 * (ms * ms * n + 1e-30) ? cov / vs : 0;
  return { slope, intercept: ma - slope * ms };
}

/** Each unit's mean activation (column means of [n × width]). */
export function unitMeans(activations: Float32Array, width: number, units: number[]): number[] {
  const n = activations.length / width;
  return units.map((u) => {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += activations[k * width + u]!;
    return sum / n;
  });
}

/** The substitution of a group of units: each unit's simulation on the evaluated text mapped through its line. [n × units]. */
export function substitutionRows(simulations: ArrayLike<number>[], lines: Line[], n: number): Float32Array {
  const rows = new Float32Array(n * simulations.length);
  simulations.forEach((s, j) => {
    if (s.length !== n) throw new Error(`substitutionRows: a simulation covers ${s.length} tokens, not ${n}`);
    const { slope, intercept } = lines[j]!;
    for (let k = 0; k < n; k++) rows[k * simulations.length + j] = slope * s[k]! + intercept;
  });
  return rows;
}

/**
 * The substituted activations of a group of units on one text, [tokens × units]: each unit's simulation there (`on`)
 * mapped through the line fitted where the layer's activations are known (`fit`: [m × width] activations and the
 * simulations on the same m tokens; the same text, or another). Throws InvalidInputError naming the units that lack
 * a simulation on either text.
 */
export function substitutedActivations(
  units: number[],
  fit: { activations: Float32Array; width: number; simulations: Map<number, Float32Array> },
  on: Map<number, Float32Array>,
  tokens: number,
): Float32Array {
  const missing = units.filter((u) => !fit.simulations.has(u) || !on.has(u));
  if (missing.length > 0) throw new InvalidInputError(`substitution: units ${missing.join(', ')} have no simulation on the text their lines are fitted on or on the text they are substituted on`);
  const lines = units.map((u) => fitLine(fit.simulations.get(u)!, fit.activations, fit.width, u));
  return substitutionRows(units.map((u) => on.get(u)!), lines, tokens);
}

/** The four losses of one group (nats per token, 95% intervals over sentences) and the recovered fractions. */
export interface Faithfulness {
  units: number;
  cleanLoss: Estimate;
  substitutedLoss: Estimate;
  zeroAblatedLoss: Estimate;
  meanAblatedLoss: Estimate;
  /**
   * (L_zero − L_substituted) / (L_zero − L_clean), ratio of sums over sentences, bootstrap interval; NaN where
   * ablation costs nothing measurable (the 95% interval of L_zero − L_clean reaches 0), so there is nothing to recover.
   * The fitted line alone restores each neuron's mean, so even a useless label recovers much against zero ablation.
   */
  recoveredVsZero: Estimate;
  /** (L_mean − L_substituted) / (L_mean − L_clean); NaN likewise. The fairer of the two. */
  recoveredVsMean: Estimate;
}


/**
 * Measures substitution for one group of units of hidden layer `depth` on `data` (its sentences delimited by
 * `starts`): the clean loss; with the units replaced by `rows` ([n × units], see substitutionRows); held at zero;
 * and held at `means`. `others` are interventions applied in every one of the four (e.g. other layers already
 * substituted). An empty group gives NaN fractions.
 */
export async function measureSubstitution(
  model: LanguageModel,
  data: Examples & { starts: Int32Array },
  group: { depth: number; units: number[]; rows: Float32Array; means: number[] },
  others: Intervention[] = [],
): Promise<Faithfulness> {
  const { depth, units } = group;
  const losses = async (extra?: Intervention) => (await tokenLosses(model, data, extra ? [...others, extra] : others)).losses;
  const clean = await losses();
  const substituted = await losses({ depth, units, rows: group.rows });
  const zero = await losses({ depth, units });
  const mean = await losses({ depth, units, values: group.means });
  const tokens = sentenceLengths(data.starts);
  const loss = (l: Float32Array) => ratioEstimate(perSentence(l, data.starts), tokens, BOOTSTRAP_SEED);
  const recovered = (ablated: Float32Array) => {
    const cost = perSentence(difference(ablated, clean), data.starts);
    return fractionOf(perSentence(difference(ablated, substituted), data.starts), cost, ratioEstimate(cost, tokens, BOOTSTRAP_SEED));
  };
  return {
    units: units.length,
    cleanLoss: loss(clean),
    substitutedLoss: loss(substituted),
    zeroAblatedLoss: loss(zero),
    meanAblatedLoss: loss(mean),
    recoveredVsZero: recovered(zero),
    recoveredVsMean: recovered(mean),
  };
}

/** a − b elementwise, in double precision. */
export function difference(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, k) => a[k]! - b[k]!);
}

/**
 * Σ numerator / Σ denominator over sentences with its bootstrap interval, or NaN where the denominator (per token:
 * `denominatorPerToken`) is not measurably above 0: a fraction of nothing is no figure.
 */
export function fractionOf(numerator: Float64Array, denominator: Float64Array, denominatorPerToken: Estimate): Estimate {
  if (!(denominatorPerToken.ci95[0] > 0)) return { value: NaN, ci95: [NaN, NaN] };
  return ratioEstimate(numerator, denominator, BOOTSTRAP_SEED);
}

/**
 * Next-word loss of a unigram predictor (each word's frequency in `trainTargets`, add-one smoothed over
 * `vocabularySize` words) on every example of `data`: [n], nats. The floor a network's advantage is measured from.
 */
export function unigramLosses(trainTargets: Int32Array, vocabularySize: number, data: Examples): Float32Array {
  const counts = new Float64Array(vocabularySize).fill(1);
  for (const t of trainTargets) counts[t]! += 1;
  const total = trainTargets.length + vocabularySize;
  return Float32Array.from(data.targets, (t) => -Math.log(counts[t]! / total));
}
