// The pipeline workflows: deterministic orchestration of one run (and of a sweep of runs). A run receives the
// expanded plan as its input and calls one activity per step on the task queue of the step's resource tag (see
// steps.ts): train the base model; then for each layer in order explain, simulate and score its units, align the
// legible ones, freeze the layer and retrain above, train the matched control (the same schedule with no legible
// neurons), re-score on the same text, and measure substitution (the labels in the neurons' place) before and after,
// with the controls beside the scores (faithfulness.ts); at the end, ablate and run
// the network on its labels alone. It returns the per-layer report. No I/O, clocks or randomness here: only
// Temporal's own APIs. Runs started before the `fixed-score-text` change finish on pipeline-v1.ts; runs started
// before the `faithfulness` change skip substitution and the controls.
import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { GroupScores, UnitScore } from '../interp/scoring';
import type { Usage } from '../llm/types';
import type { Plan, SweepPlan, SweepSettings } from '../pipelines/plan';
import type { Estimate } from '../stats/bootstrap';
import type { ArtifactRef } from '../store/artifacts';
import type { AblationFigures, LabelsAloneFigures, TaskFigures } from '../activities';
import { PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE } from '../temporal/search-attributes';
import { legiblePipelineV1, type PipelineReportV1 } from './pipeline-v1';
import { RANDOM_MODEL_SEED, type Controls, type FaithfulnessBeforeAfter } from './faithfulness';
import { legibleLayer, processLayer, type LayerInput } from './layer';
import { batches, stepRunner, type StepInput } from './steps';

export { progressQuery, type PipelineProgress } from './steps';
export { pickLegibleUnits } from './layer';

/** The version of the report this code writes; reports without one were written by pipeline-v1.ts. */
export const REPORT_VERSION = 2;

/** Scores of one group of a layer (legible or free) on the score text, before alignment and after retraining. */
export interface GroupBeforeAfter {
  before: GroupScores;
  /** `gain`: mean paired all-tokens difference after − before, on the same sentences. */
  after: GroupScores & { gain?: Estimate };
}

export interface LayerReport {
  layer: string;
  depth: number;
  width: number;
  legibleUnits: number[];
  /** How many legible neurons the fraction asked for, and how many neurons qualified (a positive selection score). */
  legibleAsked: number;
  eligible: number;
  /** The labels the legible neurons carry: how many name a concept rather than list words, and the mean listed words. */
  legibleLabels: { labels: number; conceptShare: number; meanListedWords: number };
  /** How this layer was aligned (see the pipeline's alignment settings); absent in runs started before they existed. */
  alignment?: { mode: 'target' | 'substitute'; labels: 'own' | 'permuted'; offWeight: number; weight: number; note?: string };
  /** How the legible neurons were chosen: the best-explained, or a random subset (the selection-effect control). */
  legibleSelection: 'best' | 'random' | 'dictionary';
  /** Per unit on the score text: before, each neuron's own label on the model before this layer; after, the label it was aligned to (its own, or its dictionary feature's) on the model after retraining. */
  scoresBefore: UnitScore[];
  scoresAfter: UnitScore[];
  /** Each unit's top-activating and random score sentences in its top-and-random and random-only scores. */
  sentencesPerUnit: { top: number; random: number };
  legible: GroupBeforeAfter;
  free: GroupBeforeAfter;
  task: {
    /** The constructed model before this layer (the base model, for the first layer). */
    before: TaskFigures;
    /** The constructed model after this layer's alignment and retraining. */
    after: TaskFigures;
    /** The matched control after the same training schedule with no legible neurons. */
    control: TaskFigures;
    /** Held-out loss of `after` minus the control's, and minus the base model's (nats per token, paired). */
    vsControl: Estimate;
    vsBase: Estimate;
  };
  /** Optimiser steps of this layer's alignment and retraining, for the constructed model and for the control. */
  trainingSteps: { constructed: number; control: number };
  alignLoss: number;
  /** sha256 prefix of the frozen layer's weights right after it was frozen. */
  frozenWeights: string;
  /** Every neuron's own label (made before alignment). */
  labels: ArtifactRef[];
  /** The labels the legible neurons were aligned to (the dictionary features' labels, in dictionary mode). */
  alignedLabels: ArtifactRef[];
  /** Activations on the score text before alignment and after retraining, and the simulations scored against them after. */
  recordsBefore: ArtifactRef;
  recordsAfter: ArtifactRef;
  simulations: ArtifactRef[];
  dictionary?: DictionaryReport;
  /** What the final model loses when a group of this layer's neurons is held fixed. */
  ablation?: { cleanLoss: Estimate; legible: AblationFigures; free: AblationFigures; random: AblationFigures };
  /** Substitution of the legible neurons by their labels (and of the free ones by theirs, for comparison). Absent in runs started before it existed. */
  faithfulness?: FaithfulnessBeforeAfter & { free: FaithfulnessBeforeAfter };
  controls?: Controls;
  /** The labels' simulations on the select text that substitution lines are fitted on (the aligned labels for legible neurons). */
  fitSimulations?: ArtifactRef[];
}

export interface DictionaryReport {
  features: number;
  liveFeatures: number;
  fractionOfVarianceExplained: number;
  meanL0: number;
  deadFraction: number;
  /** Mean all-tokens score on the selection text of every feature (a dead one counts 0) and of every neuron (own label). */
  meanFeatureScore: number;
  meanNeuronScore: number;
  /** Correlations of feature and neuron activations below this are never assigned. */
  minCorrelation: number;
  /** Each assigned feature and neuron, the feature's selection score and their correlation on held-out text. */
  assignments: { neuron: number; feature: number; featureScore: number; correlation: number }[];
  /** The legible neurons before alignment scored with their features' labels instead of their own. */
  legibleBeforeWithFeatureLabels: GroupScores;
}

export interface PipelineReport {
  version: typeof REPORT_VERSION;
  pipeline: string;
  pipelineHash: string;
  seed: number;
  corpus: {
    ref: ArtifactRef;
    sentences: number;
    tokens: number;
    vocabularySize: number;
    trainTokens: number;
    heldOutTokens: number;
    scoreTokens: number;
    /** The text's source, tokenizer and segmentation, and the share of held-out tokens that are <unk>; absent in runs before they existed (WordNet's glosses, words, sentences). */
    text?: { source: string; tokenizer: string; segment: string; heldOutUnknownShare: number };
  };
  base: TaskFigures;
  layers: LayerReport[];
  finalModel: ArtifactRef;
  controlModel: ArtifactRef;
  /** sha256 prefixes of every hidden layer's weights in the final model. */
  finalLayerHashes: Record<string, string>;
  backends: string[];
  /** Language-model calls and tokens of every explain and simulate step together. */
  usage: Usage;
  /** The final network with every processed layer's legible neurons substituted and its free neurons mean-ablated. */
  labelsAlone?: LabelsAloneFigures;
}

/** patched() marker: runs started before it finish on pipeline-v1.ts. */
const FIXED_SCORE_TEXT_PATCH = 'fixed-score-text';
/** patched() marker: runs started before it skip substitution, the controls and the network on its labels alone. */
const FAITHFULNESS_PATCH = 'faithfulness';
/** patched() marker: runs started before it process their layers inline, not as child workflows. */
const LAYER_WORKFLOWS_PATCH = 'layer-workflows';

export async function legiblePipeline(plan: Plan): Promise<PipelineReport | PipelineReportV1> {
  if (!patched(FIXED_SCORE_TEXT_PATCH)) return legiblePipelineV1(plan);
  const p = plan.pipeline;
  const { step, child, enterLayer, finish, backends, usage } = stepRunner(plan);
  const measuresFaithfulness = patched(FAITHFULNESS_PATCH);

  const prepared = await step('prepareCorpus', { pipeline: p });
  const corpus = prepared.corpus;
  const base = await step('trainBaseModel', { pipeline: p, corpus });
  const baseTask = (await step('evaluateTask', { corpus, model: base.model })).metrics;
  let model = base.model;
  /** The matched control: the same training as `model`, with no legible neurons. */
  let control = base.model;
  let layerHashes = base.layerHashes;
  let task = baseTask;
  const layers: LayerReport[] = [];

  /** Labels of each processed layer's neurons, by depth: the incoming context of the layer above. */
  const labelsByDepth = new Map<number, ArtifactRef[]>();
  /** The random-model control: an untrained network of the same shape, explained and scored like the real one. */
  const randomModel = measuresFaithfulness ? (await step('initialiseRandomModel', { model: base.model, seed: p.seed + RANDOM_MODEL_SEED })).model : undefined;
  const layerWorkflows = patched(LAYER_WORKFLOWS_PATCH);

  for (const layer of plan.layers) {
    enterLayer(layer.name);
    const below = labelsByDepth.get(layer.depth - 1);
    const input: LayerInput = { plan, layer, corpus, base: base.model, model, control, task, ...(below ? { labelsBelow: below } : {}), ...(randomModel ? { randomModel } : {}), measuresFaithfulness };
    // Each layer a child workflow; runs started before that run it here, its batches all at once in this history.
    const outcome = layerWorkflows
      ? await child(legibleLayer, `${workflowInfo().workflowId}-layer-${layer.name}`, [input], `layer ${layer.name}`)
      : await processLayer(input, step, (kind, stepInput, units) => Promise.all(batches(units, p.interpretability.unitsPerActivity).map((b) => step(kind, { ...stepInput, units: b } as StepInput<typeof kind>))));
    layers.push(outcome.report);
    model = outcome.model;
    control = outcome.control;
    layerHashes = outcome.layerHashes;
    task = outcome.task;
    labelsByDepth.set(layer.depth, outcome.labels);
  }
  // How much the final network leans on each layer's legible and free neurons, against random subsets.
  for (const l of layers) {
    enterLayer(l.layer);
    const a = await step('ablateNeurons', { corpus, model, layer: l.layer, legibleUnits: l.legibleUnits, seed: p.seed });
    l.ablation = { cleanLoss: a.cleanLoss, ...a.groups };
  }
  // The whole network on its labels alone.
  let labelsAlone: LabelsAloneFigures | undefined;
  if (measuresFaithfulness && layers.length > 0) {
    enterLayer(undefined);
    const a = await step('runOnLabelsAlone', {
      corpus,
      model,
      base: base.model,
      layers: layers.map((l) => ({ layer: l.layer, legible: l.legibleUnits, fit: l.fitSimulations!, simulations: l.simulations })),
    });
    labelsAlone = { labelsAloneLoss: a.labelsAloneLoss, finalLoss: a.finalLoss, baseLoss: a.baseLoss, unigramLoss: a.unigramLoss, survivingShare: a.survivingShare, finalShare: a.finalShare };
  }
  finish();

  return {
    version: REPORT_VERSION,
    pipeline: plan.pipelineName,
    pipelineHash: plan.pipelineHash,
    seed: p.seed,
    corpus: {
      ref: corpus,
      sentences: prepared.sentences,
      tokens: prepared.tokens,
      vocabularySize: prepared.vocabularySize,
      trainTokens: prepared.splitSizes.train.tokens,
      heldOutTokens: prepared.splitSizes.heldOut.tokens,
      scoreTokens: prepared.splitSizes.score.tokens,
      ...(prepared.text ? { text: prepared.text } : {}),
    },
    base: baseTask,
    layers,
    finalModel: model,
    controlModel: control,
    finalLayerHashes: layerHashes,
    backends: [...backends],
    usage: usage(),
    ...(labelsAlone ? { labelsAlone } : {}),
  };
}

export interface SweepPoint {
  settings: SweepSettings;
  workflowId: string;
  report: PipelineReport | PipelineReportV1;
}

export interface SweepReport {
  pipeline: string;
  pipelineHash: string;
  /** The points that finished, in plan order. */
  points: SweepPoint[];
  /** The points that failed, with their error: `legible resume` runs them again. Absent when none failed. */
  failed?: { settings: SweepSettings; workflowId: string; failure: string }[];
}

/**
 * A sweep: each point's pipeline runs as a child workflow, all at once; the results come back in order. A failing
 * point fails alone: its siblings go on, and the sweep's result names it. `resumed.done`: points that finished in an
 * earlier run of this sweep (`legible resume`), kept as they are; only the others run.
 */
export async function legibleSweep(sweep: SweepPlan, resumed?: { done: SweepPoint[] }): Promise<SweepReport> {
  const parent = workflowInfo().workflowId;
  const done = new Map((resumed?.done ?? []).map((p) => [p.workflowId, p]));
  const outcomes = await Promise.all(
    sweep.points.map(async (point, i): Promise<SweepPoint | { settings: SweepSettings; workflowId: string; failure: string }> => {
      const workflowId = `${parent}-point-${i}`;
      const kept = done.get(workflowId);
      if (kept) return kept;
      try {
        const report = await executeChild(legiblePipeline, {
          workflowId,
          args: [point.plan],
          typedSearchAttributes: [
            { key: PIPELINE_ATTRIBUTE, value: sweep.pipelineName },
            { key: PIPELINE_HASH_ATTRIBUTE, value: sweep.pipelineHash },
          ],
          staticSummary: `sweep point ${i}: ${JSON.stringify(point.settings)}`,
          memo: { sweepSettings: point.settings },
          workflowTaskTimeout: '1m',
        });
        return { settings: point.settings, workflowId, report };
      } catch (err) {
        return { settings: point.settings, workflowId, failure: rootMessage(err) };
      }
    }),
  );
  const failed = outcomes.filter((o) => 'failure' in o);
  return { pipeline: sweep.pipelineName, pipelineHash: sweep.pipelineHash, points: outcomes.filter((o) => 'report' in o), ...(failed.length > 0 ? { failed } : {}) };
}

/** The innermost message of an error's cause chain (a point's failure wraps its layer's, its step's and the error). */
function rootMessage(err: unknown): string {
  let e = err;
  for (let depth = 0; e instanceof Error && e.cause instanceof Error && depth < 20; depth++) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
