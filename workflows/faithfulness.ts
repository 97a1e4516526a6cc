// Workflow code for the question "is the label the neuron?", one layer at a time: substitution of the legible and
// free neurons by their labels before and after alignment, and the controls beside the scores (shuffled labels,
// random labels, a random network explained like the real one). Deterministic: it only calls steps.
import type { GroupScores } from '../interp/scoring';
import type { Faithfulness } from '../interp/faithfulness';
import type { Pipeline } from '../pipelines/schema';
import type { ArtifactRef } from '../store/artifacts';
import { mix, type stepRunner } from './steps';

/** Substitution of one group before alignment (its own labels, the model as it was) and after (the constructed model). */
export interface FaithfulnessBeforeAfter {
  before: Faithfulness;
  after: Faithfulness;
}

/** Scores of the controls on the score text after alignment, each with the legible group's units and the same simulator. */
export interface Controls {
  /** The constructed model's legible neurons, each scored with another legible neuron's aligned label (none with fewer than two). */
  shuffledLabels?: GroupScores;
  /** The same neurons scored with labels of concepts drawn at random from the explainer's vocabulary. */
  randomLabels: GroupScores;
  /** Every neuron of the same layer of a randomly initialised network of the same shape, explained and scored alike. */
  randomModel: GroupScores;
}

/** Seed offset of the random-model control's initialisation. */
export const RANDOM_MODEL_SEED = 9973;

/**
 * A seeded derangement of `units` as [unit, source] pairs: every unit gets another's label (none keeps its own).
 * The units are put in a seeded order and each takes the label of the next one round the cycle. Fewer than two
 * units: no pairs.
 */
export function derangement(units: number[], seed: number): [number, number][] {
  if (units.length < 2) return [];
  const order = [...units].sort((a, b) => mix(seed, a) - mix(seed, b) || a - b);
  return order.map((u, i) => [u, order[(i + 1) % order.length]!]);
}

/** What one layer of a run hands over: its steps, models, records, groups and the labels' simulations. */
export interface LayerFaithfulnessInput {
  step: ReturnType<typeof stepRunner>['step'];
  simulate: (labels: ArtifactRef[], split: 'select' | 'score' | 'align', units: number[]) => Promise<ArtifactRef[]>;
  explain: (records: ArtifactRef, units: number[], withIncoming: boolean) => Promise<ArtifactRef[]>;
  pipeline: Pipeline;
  corpus: ArtifactRef;
  layer: string;
  depth: number;
  groups: { legible: number[]; free: number[] };
  randomModel: ArtifactRef;
  /** The model before this layer, and after its alignment and retraining. */
  modelBefore: ArtifactRef;
  model: ArtifactRef;
  /** Activations on the score text before and after. */
  recordedBefore: ArtifactRef;
  recordedAfter: ArtifactRef;
  /** Every neuron's own label's simulations on the select and the score text. */
  ownOnSelect: ArtifactRef[];
  ownSimulations: ArtifactRef[];
  /** The legible neurons' aligned labels where they are not their own (dictionary features', or permuted). */
  alignedLabels?: ArtifactRef[];
  /** Simulations on the score text with the aligned labels in the legible neurons' place. */
  alignedSimulations: ArtifactRef[];
}

/** Substitution before and after, and the controls, for one layer (see LayerReport's fields of the same names). */
export async function measureFaithfulness(i: LayerFaithfulnessInput): Promise<{ faithfulness: FaithfulnessBeforeAfter & { free: FaithfulnessBeforeAfter }; controls: Controls; fitSimulations: ArtifactRef[] }> {
  const { step, simulate, pipeline: p, corpus, layer, groups } = i;
  const legible = groups.legible;
  const alignedOnSelect = i.alignedLabels ? [...i.ownOnSelect, ...(await simulate(i.alignedLabels, 'select', legible))] : i.ownOnSelect;
  const substituted = (model: ArtifactRef, fit: ArtifactRef[], simulations: ArtifactRef[]) => step('substituteLabels', { corpus, model, layer, groups, fit, simulations });
  const before = (await substituted(i.modelBefore, i.ownOnSelect, i.ownSimulations)).groups;
  const after = (await substituted(i.model, alignedOnSelect, i.alignedSimulations)).groups;

  const scoredAfter = (simulations: ArtifactRef[], extra: { simulationOf?: [number, number][] } = {}) =>
    step('scoreExplanations', { pipeline: p, corpus, records: i.recordedAfter, simulations, sentencesFrom: i.recordedBefore, groups: { legible }, ...extra });
  const shuffled = legible.length > 1 ? await scoredAfter(i.alignedSimulations, { simulationOf: derangement(legible, p.seed * 17 + i.depth) }) : undefined;
  const randomLabels = (await step('drawRandomLabels', { units: legible, seed: p.seed * 19 + i.depth })).labels;
  const randomLabelled = await scoredAfter(await simulate([randomLabels], 'score', legible));
  const allUnits = [...groups.legible, ...groups.free].sort((a, b) => a - b);
  const randomRecorded = (await step('recordActivations', { corpus, model: i.randomModel, layer, splits: ['explain', 'score'] })).records;
  const randomModelLabels = await i.explain(randomRecorded.explain!, allUnits, false);
  const randomModelScores = await step('scoreExplanations', { pipeline: p, corpus, records: randomRecorded.score!, simulations: await simulate(randomModelLabels, 'score', allUnits), groups: { all: allUnits } });
  return {
    faithfulness: { before: before.legible!, after: after.legible!, free: { before: before.free!, after: after.free! } },
    controls: { ...(shuffled ? { shuffledLabels: shuffled.groups!.legible! } : {}), randomLabels: randomLabelled.groups!.legible!, randomModel: randomModelScores.groups!.all! },
    fitSimulations: alignedOnSelect,
  };
}
