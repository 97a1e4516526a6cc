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
import type { LabelShape } from '../llm/label-shape';
import type { Usage } from '../llm/types';
import type { Plan, SweepPlan, SweepSettings } from '../pipelines/plan';
import type { Estimate } from '../stats/bootstrap';
import type { ArtifactRef } from '../store/artifacts';
import type { AblationFigures, LabelsAloneFigures, TaskFigures } from '../activities';
import { PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE } from '../temporal/search-attributes';
import { legiblePipelineV1, type PipelineReportV1 } from './pipeline-v1';
import { derangement, measureFaithfulness, RANDOM_MODEL_SEED, type Controls, type FaithfulnessBeforeAfter } from './faithfulness';
import { batches, mix, range, stepRunner } from './steps';

export { progressQuery, type PipelineProgress } from './steps';

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
  corpus: { ref: ArtifactRef; sentences: number; tokens: number; vocabularySize: number; trainTokens: number; heldOutTokens: number; scoreTokens: number };
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

export async function legiblePipeline(plan: Plan): Promise<PipelineReport | PipelineReportV1> {
  if (!patched(FIXED_SCORE_TEXT_PATCH)) return legiblePipelineV1(plan);
  const p = plan.pipeline;
  const { step, enterLayer, finish, backends, usage } = stepRunner(plan);
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
  const incoming = p.interpretability.incoming;
  /** The random-model control: an untrained network of the same shape, explained and scored like the real one. */
  const randomModel = measuresFaithfulness ? (await step('initialiseRandomModel', { model: base.model, seed: p.seed + RANDOM_MODEL_SEED })).model : undefined;

  for (const layer of plan.layers) {
    enterLayer(layer.name);
    const allUnits = range(layer.width);
    /** Runs one activity per batch of units, all at once: a layer fans out over the llm queue's workers. */
    const fanOut = <T>(units: number[], run: (batch: number[]) => Promise<T>) => Promise.all(batches(units, p.interpretability.unitsPerActivity).map(run));
    const explain = async (records: ArtifactRef, units: number[], withIncoming: boolean) => {
      const below = labelsByDepth.get(layer.depth - 1);
      const context = withIncoming && incoming && below ? { incoming: { model, layer: layer.name, labelsBelow: below, topN: incoming.topN } } : {};
      const results = await fanOut(units, (batch) => step('explainNeurons', { pipeline: p, corpus, records, units: batch, ...context }));
      for (const r of results) for (const shape of r.shapes ?? []) shapes.set(`${records.sha256}/${shape.unit}`, shape);
      return results.map((r) => r.labels);
    };
    /** The shape of each label made in this layer (concept or word list, listed words), by records and unit. */
    const shapes = new Map<string, LabelShape>();
    const simulate = async (labels: ArtifactRef[], split: 'select' | 'score' | 'align', units: number[]) =>
      (await fanOut(units, (batch) => step('simulateNeurons', { pipeline: p, corpus, labels, split, units: batch }))).map((r) => r.simulation);

    // Labels are made on training text (explain); the legible neurons are chosen on one part of the held-out text
    // (select), and every reported score is measured on another (score).
    const splits = layer.dictionary ? (['explain', 'align', 'select', 'score'] as const) : (['explain', 'select', 'score'] as const);
    const recorded = (await step('recordActivations', { corpus, model, layer: layer.name, splits: [...splits] })).records;
    const neuronLabels = await explain(recorded.explain!, allUnits, true);
    const ownOnSelect = await simulate(neuronLabels, 'select', allUnits);
    const selection = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.select!, simulations: ownOnSelect });

    let alignedLabels = neuronLabels;
    let legibleUnits: number[];
    let dictionary: Omit<DictionaryReport, 'legibleBeforeWithFeatureLabels'> | undefined;
    /** The shape of the label a legible neuron carries: its own, or its dictionary feature's. */
    let carriedLabelShape = (unit: number) => shapes.get(`${recorded.explain!.sha256}/${unit}`);
    if (layer.dictionary) {
      // Explain the dictionary's features like neurons; the best-explained become the legible neurons' labels.
      const learned = await step('learnDictionary', {
        pipeline: p,
        layer: layer.name,
        settings: layer.dictionary,
        train: [recorded.explain!, recorded.align!],
        encode: { explain: recorded.explain!, select: recorded.select! },
      });
      const featureLabels = await explain(learned.records.explain!, learned.liveFeatures, false);
      const featureScores = await step('scoreExplanations', { pipeline: p, corpus, records: learned.records.select!, simulations: await simulate(featureLabels, 'select', learned.liveFeatures) });
      const assigned = await step('assignDictionaryFeatures', {
        neuronRecords: recorded.select!,
        featureRecords: learned.records.select!,
        featureScores: featureScores.scores,
        neuronLabels,
        featureLabels,
        count: layer.legibleUnits,
        minCorrelation: layer.dictionary.minCorrelation,
      });
      alignedLabels = [assigned.labels];
      legibleUnits = assigned.legibleUnits;
      dictionary = {
        ...learned.stats,
        liveFeatures: learned.liveFeatures.length,
        meanFeatureScore: sum(featureScores.scores.map((s) => s.allTokens)) / learned.stats.features,
        meanNeuronScore: selection.meanAllTokens,
        minCorrelation: layer.dictionary.minCorrelation,
        assignments: assigned.assignments,
      };
      const featureOf = new Map(assigned.assignments.map((a) => [a.neuron, a.feature]));
      carriedLabelShape = (unit) => shapes.get(`${learned.records.explain!.sha256}/${featureOf.get(unit)}`);
    } else {
      legibleUnits = pickLegibleUnits(selection.scores, layer.legibleUnits, p.interpretability.legibleSelection, p.seed * 31 + layer.depth);
    }
    const isLegible = new Set(legibleUnits);
    const legibleLabels = labelShapes(legibleUnits.flatMap((u) => carriedLabelShape(u) ?? []));
    const groups = { legible: legibleUnits, free: allUnits.filter((u) => !isLegible.has(u)) };

    // Before: every neuron with its own label, on the score text, on the model as it was before this layer.
    const ownSimulations = await simulate(neuronLabels, 'score', allUnits);
    const before = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.score!, simulations: ownSimulations, groups });
    // The permuted-labels control: each legible neuron is aligned to another's label.
    const permuted = (p.alignment.labels ?? 'own') === 'permuted' && legibleUnits.length > 1;
    if (permuted) alignedLabels = [(await step('permuteLabels', { labels: alignedLabels, pairs: derangement(legibleUnits, p.seed * 23 + layer.depth) })).labels];
    // After: each neuron with the label it was aligned to (later simulations take a unit's place in the list).
    const relabelled = alignedLabels !== neuronLabels;
    const alignedSimulations = relabelled ? [...ownSimulations, ...(await simulate(alignedLabels, 'score', legibleUnits))] : ownSimulations;
    const withFeatureLabels = layer.dictionary ? await step('scoreExplanations', { pipeline: p, corpus, records: recorded.score!, simulations: alignedSimulations, groups: { legible: legibleUnits } }) : undefined;

    // With no legible neurons the step trains for as long on the task alone: that is how the control is trained.
    const targets = await simulate(alignedLabels, 'align', legibleUnits);
    const aligned = await step('alignLegibleNeurons', { pipeline: p, corpus, model, layer: layer.name, legibleUnits, simulations: targets });
    // In substitute mode the layers above are retrained on the labels' simulations in the legible neurons' place.
    const substitutes = (p.alignment.mode ?? 'target') === 'substitute';
    const retrained = await step('retrainLayersAbove', { pipeline: p, corpus, model: aligned.model, layer: layer.name, ...(substitutes ? { substitute: { legibleUnits, simulations: targets } } : {}) });
    const modelBefore = model;
    model = retrained.model;
    layerHashes = retrained.layerHashes;
    labelsByDepth.set(layer.depth, neuronLabels);
    // The matched control: the same schedule with no legible neurons, from the previous layer's control.
    const controlAligned = await step('alignLegibleNeurons', { pipeline: p, corpus, model: control, layer: layer.name, legibleUnits: [], simulations: [] });
    const controlRetrained = await step('retrainLayersAbove', { pipeline: p, corpus, model: controlAligned.model, layer: layer.name, ...(substitutes ? { substitute: { legibleUnits: [], simulations: [] } } : {}) });
    control = controlRetrained.model;

    const recordedAfter = (await step('recordActivations', { corpus, model, layer: layer.name, splits: ['score'] })).records;
    const after = await step('scoreExplanations', {
      pipeline: p,
      corpus,
      records: recordedAfter.score!,
      simulations: alignedSimulations,
      sentencesFrom: recorded.score!,
      groups,
      baseline: { records: recorded.score!, simulations: ownSimulations },
    });
    const controlTask = (await step('evaluateTask', { corpus, model: control })).metrics;
    const evaluated = await step('evaluateTask', { corpus, model, against: { control, base: base.model } });

    // Is the label the neuron? Substitution before and after, with the controls beside the scores.
    const faithful = measuresFaithfulness
      ? await measureFaithfulness({ step, simulate, explain, pipeline: p, corpus, layer: layer.name, depth: layer.depth, groups, randomModel: randomModel!, modelBefore, model, recordedBefore: recorded.score!, recordedAfter: recordedAfter.score!, ownOnSelect, ownSimulations, alignedLabels: relabelled ? alignedLabels : undefined, alignedSimulations })
      : {};

    layers.push({
      layer: layer.name,
      depth: layer.depth,
      width: layer.width,
      legibleUnits,
      legibleAsked: layer.legibleUnits,
      eligible: selection.scores.filter((s) => s.allTokens > 0).length,
      legibleSelection: layer.dictionary ? 'dictionary' : p.interpretability.legibleSelection,
      ...(measuresFaithfulness
        ? {
            alignment: {
              mode: p.alignment.mode ?? 'target',
              labels: permuted ? 'permuted' : 'own',
              offWeight: p.alignment.offWeight ?? 1,
              weight: p.alignment.weight,
              ...(p.alignment.labels === 'permuted' && !permuted ? { note: `permuted labels were asked for, but ${legibleUnits.length} legible neuron${legibleUnits.length === 1 ? ' has' : 's have'} no other label to take` } : {}),
            },
          }
        : {}),
      legibleLabels,
      scoresBefore: before.scores,
      scoresAfter: after.scores,
      sentencesPerUnit: before.sentencesPerUnit!,
      legible: { before: before.groups!.legible!, after: after.groups!.legible! },
      free: { before: before.groups!.free!, after: after.groups!.free! },
      task: { before: task, after: evaluated.metrics, control: controlTask, vsControl: evaluated.differences!.control!, vsBase: evaluated.differences!.base! },
      trainingSteps: { constructed: aligned.steps + retrained.steps, control: controlAligned.steps + controlRetrained.steps },
      alignLoss: aligned.alignLoss,
      frozenWeights: retrained.layerHashes[layer.name]!,
      labels: neuronLabels,
      alignedLabels,
      recordsBefore: recorded.score!,
      recordsAfter: recordedAfter.score!,
      simulations: alignedSimulations,
      ...(dictionary ? { dictionary: { ...dictionary, legibleBeforeWithFeatureLabels: withFeatureLabels!.groups!.legible! } } : {}),
      ...faithful,
    });
    task = evaluated.metrics;
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

/**
 * The units that become legible: `count` of those with a positive all-tokens score on the selection text (a label
 * that predicts its neuron no better than chance is no label to align to), either the best-explained ('best'; ties
 * by unit index) or a random subset ('random', drawn with `seed`: the control for the selection effect). Fewer
 * than `count` where fewer qualify. Returned in unit order.
 */
export function pickLegibleUnits(scores: UnitScore[], count: number, how: 'best' | 'random' = 'best', seed = 0): number[] {
  const eligible = scores.filter((s) => s.allTokens > 0);
  const order = how === 'best' ? eligible.sort((a, b) => b.allTokens - a.allTokens || a.unit - b.unit) : eligible.sort((a, b) => mix(seed, a.unit) - mix(seed, b.unit) || a.unit - b.unit);
  return order
    .slice(0, count)
    .map((s) => s.unit)
    .sort((a, b) => a - b);
}

/** Over a set of labels: the share that name a concept, and the mean number of listed words (NaN for none). */
function labelShapes(shapes: LabelShape[]): { labels: number; conceptShare: number; meanListedWords: number } {
  const n = shapes.length;
  return { labels: n, conceptShare: n === 0 ? NaN : shapes.filter((s) => s.concept).length / n, meanListedWords: n === 0 ? NaN : sum(shapes.map((s) => s.listedWords)) / n };
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

export interface SweepReport {
  pipeline: string;
  pipelineHash: string;
  points: { settings: SweepSettings; workflowId: string; report: PipelineReport | PipelineReportV1 }[];
}

/** A sweep: each point's pipeline runs as a child workflow, all at once; the results come back in order. */
export async function legibleSweep(sweep: SweepPlan): Promise<SweepReport> {
  const parent = workflowInfo().workflowId;
  const points = await Promise.all(
    sweep.points.map(async (point, i) => {
      const workflowId = `${parent}-point-${i}`;
      const report = await executeChild(legiblePipeline, {
        workflowId,
        args: [point.plan],
        typedSearchAttributes: [
          { key: PIPELINE_ATTRIBUTE, value: sweep.pipelineName },
          { key: PIPELINE_HASH_ATTRIBUTE, value: sweep.pipelineHash },
        ],
        staticSummary: `sweep point ${i}: ${JSON.stringify(point.settings)}`,
        workflowTaskTimeout: '1m',
      });
      return { settings: point.settings, workflowId, report };
    }),
  );
  return { pipeline: sweep.pipelineName, pipelineHash: sweep.pipelineHash, points };
}
