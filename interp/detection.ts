// Detection, fuzzing and AUC: scorers beside correlation, after EleutherAI's delphi ("Automatically Interpreting
// Millions of Features in Large Language Models", Paulo et al., 2024, arXiv 2410.13928). Delphi asks a language model
// yes/no questions about a label; here every simulator (embedded or a language model) has already predicted each
// token's activation from the label alone, and the questions are answered from that simulation:
// - detection: does the neuron fire anywhere in this sentence? (the simulation reaches its threshold somewhere);
// - fuzzing: are the highlighted tokens of a sentence where it fires the ones it fires on? (the simulation's mean
//   over the highlighted tokens reaches its threshold), for correct highlights and for as many wrong ones;
// - AUC: how well the simulation ranks the tokens where the neuron fires above the others (Mann–Whitney).
// Detection and fuzzing are balanced accuracies (0.5 = chance, 1 = perfect). A neuron fires on a token where its
// activation is at least half its maximum on the text; the simulation's threshold is half its own maximum there.
import { Rng } from '../data/rng';
import type { LayerActivations } from './records';

/** A token is active where the neuron reaches this share of its maximum on the text (as the explainer's hot tokens). */
export const ACTIVE_SHARE = 0.5;

export interface DetectionScores {
  detection: number;
  fuzzing: number;
  auc: number;
}

/** Balanced accuracy: the mean of the true-positive and true-negative rates (NaN where a class is empty). */
export function balancedAccuracy(truth: boolean[], predicted: boolean[]): number {
  let tp = 0;
  let p = 0;
  let tn = 0;
  let n = 0;
  truth.forEach((t, i) => {
    if (t) {
      p++;
      if (predicted[i]) tp++;
    } else {
      n++;
      if (!predicted[i]) tn++;
    }
  });
  return p === 0 || n === 0 ? NaN : (tp / p + tn / n) / 2;
}

/** Area under the ROC curve of `scores` for `positive` (ties count half): P(score of a positive > a negative's). NaN without both classes. */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Mann–Whitney U from mid-ranks.
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (positive[order[k]!]) {
        rankSum += midRank;
        positives++;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Detection, fuzzing and AUC of one unit on the whole text of `truth` ([tokens × width]), its simulation giving one
 * value per token. Wrong highlights draw, in each sentence where the unit fires, as many of its inactive tokens as
 * it has active ones (seeded), or fewer where fewer are inactive. A simulation that is never positive predicts
 * nothing anywhere.
 */
export function detectionScores(truth: LayerActivations, simulated: ArrayLike<number>, unit: number, seed: number): DetectionScores {
  const tokens = truth.words.length;
  let maxAct = 0;
  let maxSim = 0;
  for (let k = 0; k < tokens; k++) {
    maxAct = Math.max(maxAct, truth.activations[k * truth.width + unit]!);
    maxSim = Math.max(maxSim, simulated[k]!);
  }
  const active = (k: number) => maxAct > 0 && truth.activations[k * truth.width + unit]! >= ACTIVE_SHARE * maxAct;
  const predicts = (v: number) => maxSim > 0 && v >= ACTIVE_SHARE * maxSim;
  const fires: boolean[] = [];
  const detected: boolean[] = [];
  const highlightTruth: boolean[] = [];
  const highlightJudged: boolean[] = [];
  const rng = new Rng(seed * 7001 + unit);
  for (let s = 0; s + 1 < truth.starts.length; s++) {
    const on: number[] = [];
    const off: number[] = [];
    let simMax = -Infinity;
    for (let k = truth.starts[s]!; k < truth.starts[s + 1]!; k++) {
      (active(k) ? on : off).push(k);
      simMax = Math.max(simMax, simulated[k]!);
    }
    fires.push(on.length > 0);
    detected.push(predicts(simMax));
    if (on.length === 0) continue;
    const judge = (ks: number[]) => predicts(ks.reduce((a, k) => a + simulated[k]!, 0) / ks.length);
    highlightTruth.push(true);
    highlightJudged.push(judge(on));
    if (off.length > 0) {
      highlightTruth.push(false);
      highlightJudged.push(judge(rng.sample(off, Math.min(on.length, off.length))));
    }
  }
  const isActive = Array.from({ length: tokens }, (_, k) => active(k));
  return {
    detection: balancedAccuracy(fires, detected),
    fuzzing: balancedAccuracy(highlightTruth, highlightJudged),
    auc: rocAuc(Array.prototype.slice.call(simulated, 0, tokens) as number[], isActive),
  };
}
