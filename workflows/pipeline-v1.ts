// The pipeline workflow as it ran before scores were measured on fixed text with matched controls and intervals
// (the `fixed-score-text` change). Frozen: runs started by that code replay and finish on it (legiblePipeline
// sends them here through patched()). Never change the order or kind of its steps; new work goes in pipeline.ts.
import { patched } from '@temporalio/workflow';
import type { Plan } from '../pipelines/plan';
import type { TaskMetrics } from '../nn/train';
import type { ArtifactRef } from '../store/artifacts';
import type { Usage } from '../llm/types';
import { batches, mean, range, stepRunner } from './steps';

/** A unit's scores as version 1 reported them (its top-and-random sentences chosen anew after alignment). */
export interface UnitScoreV1 {
  unit: number;
  topAndRandom: number;
  randomOnly: number;
}

export interface LayerReportV1 {
  layer: string;
  width: number;
  legibleUnits: number[];
  /** Mean top-and-random explanation score of the legible neurons before alignment and after retraining. */
  legibleBefore: number;
  legibleAfter: number;
  /** The same for the free neurons (labelled and scored, never aligned). */
  freeBefore: number;
  freeAfter: number;
  /** Random-only scores, means over legible neurons. */
  legibleRandomOnlyBefore: number;
  legibleRandomOnlyAfter: number;
  taskBefore: TaskMetrics;
  taskAfter: TaskMetrics;
  alignLoss: number;
  /** sha256 prefix of the frozen layer's weights right after it was frozen. */
  frozenWeights: string;
  scoresBefore: UnitScoreV1[];
  scoresAfter: UnitScoreV1[];
  /** The neurons' labels (legible neurons carry their dictionary feature's label). */
  labels: ArtifactRef[];
  /** Activations on the scoring text after alignment, and the labels' simulations there (for neuron cards). */
  recordsAfter: ArtifactRef;
  simulations: ArtifactRef[];
  dictionary?: DictionaryReportV1;
  /** Held-out loss of the final model with the layer's legible, or free, neurons held at zero. */
  ablation?: { loss: number; lossWithoutLegible: number; lossWithoutFree: number };
}

export interface DictionaryReportV1 {
  features: number;
  liveFeatures: number;
  fractionOfVarianceExplained: number;
  meanL0: number;
  deadFraction: number;
  /** Mean top-and-random score of the live features' labels, and of the neurons' own labels (selection text). */
  meanFeatureScore: number;
  meanNeuronScore: number;
  assignments: { neuron: number; feature: number; featureScore: number; correlation: number }[];
}

export interface PipelineReportV1 {
  pipeline: string;
  pipelineHash: string;
  corpus: { ref: ArtifactRef; sentences: number; tokens: number; vocabularySize: number; trainTokens: number; heldOutTokens: number };
  base: TaskMetrics;
  layers: LayerReportV1[];
  finalModel: ArtifactRef;
  /** sha256 prefixes of every hidden layer's weights in the final model. */
  finalLayerHashes: Record<string, string>;
  backends: string[];
  /** Language-model calls and tokens of every explain and simulate step together. */
  usage: Usage;
}

/** patched() markers of workflow changes that runs started by older code must replay around. */
const ABLATION_PATCH = 'ablate-neurons-after-layers';

export async function legiblePipelineV1(plan: Plan): Promise<PipelineReportV1> {
  const p = plan.pipeline;
  const { step, enterLayer, finish, backends, usage } = stepRunner(plan);

  const prepared = await step('prepareCorpus', { pipeline: p });
  const corpus = prepared.corpus;
  const base = await step('trainBaseModel', { pipeline: p, corpus });
  let model = base.model;
  let layerHashes = base.layerHashes;
  let task = (await step('evaluateTask', { corpus, model })).metrics;
  const baseTask = task;
  const layers: LayerReportV1[] = [];

  /** Labels of each processed layer's neurons, by depth: the incoming context of the layer above. */
  const labelsByDepth = new Map<number, ArtifactRef[]>();
  const incoming = p.interpretability.incoming;

  for (const layer of plan.layers) {
    enterLayer(layer.name);
    const allUnits = range(layer.width);
    /** Runs one activity per batch of units, all at once: a layer fans out over the llm queue's workers. */
    const fanOut = <T>(units: number[], run: (batch: number[]) => Promise<T>) => Promise.all(batches(units, p.interpretability.unitsPerActivity).map(run));
    const explain = async (records: ArtifactRef, units: number[], withIncoming: boolean) => {
      const below = labelsByDepth.get(layer.depth - 1);
      const context = withIncoming && incoming && below ? { incoming: { model, layer: layer.name, labelsBelow: below, topN: incoming.topN } } : {};
      return (await fanOut(units, (batch) => step('explainNeurons', { pipeline: p, corpus, records, units: batch, ...context }))).map((r) => r.labels);
    };
    const simulate = async (labels: ArtifactRef[], split: 'select' | 'score' | 'align', units: number[]) =>
      (await fanOut(units, (batch) => step('simulateNeurons', { pipeline: p, corpus, labels, split, units: batch }))).map((r) => r.simulation);

    // Labels are made on training text; the legible neurons are chosen on one part of the held-out text, and every
    // reported score is measured on another: the same text, labels and simulation before and after alignment.
    const splits = layer.dictionary ? (['explain', 'align', 'select', 'score'] as const) : (['explain', 'select', 'score'] as const);
    const recorded = (await step('recordActivations', { corpus, model, layer: layer.name, splits: [...splits] })).records;
    const neuronLabels = await explain(recorded.explain!, allUnits, true);
    const selection = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.select!, simulations: await simulate(neuronLabels, 'select', allUnits) });

    let labels = neuronLabels;
    let legibleUnits: number[];
    let dictionary: DictionaryReportV1 | undefined;
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
      const featureScores = await step('scoreExplanations', {
        pipeline: p,
        corpus,
        records: learned.records.select!,
        simulations: await simulate(featureLabels, 'select', learned.liveFeatures),
      });
      const assigned = await step('assignDictionaryFeatures', {
        neuronRecords: recorded.explain!,
        featureRecords: learned.records.explain!,
        featureScores: featureScores.scores,
        neuronLabels,
        featureLabels,
        count: layer.legibleUnits,
      });
      labels = [assigned.labels];
      legibleUnits = assigned.legibleUnits;
      dictionary = { ...learned.stats, liveFeatures: learned.liveFeatures.length, meanFeatureScore: featureScores.meanTopAndRandom, meanNeuronScore: selection.meanTopAndRandom, assignments: assigned.assignments };
    } else {
      legibleUnits = pickLegibleUnitsV1(selection.scores, layer.legibleUnits);
    }
    const scoreSimulations = await simulate(labels, 'score', allUnits);
    const before = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.score!, simulations: scoreSimulations });

    // With no legible neurons the step still trains for as long on the task alone, so that every point of a sweep
    // gets the same training and the tradeoff measures legibility, not training time.
    const targets = await simulate(labels, 'align', legibleUnits);
    const aligned = await step('alignLegibleNeurons', { pipeline: p, corpus, model, layer: layer.name, legibleUnits, simulations: targets });
    model = aligned.model;
    const alignLoss = aligned.alignLoss;
    const retrained = await step('retrainLayersAbove', { pipeline: p, corpus, model, layer: layer.name });
    model = retrained.model;
    layerHashes = retrained.layerHashes;
    labelsByDepth.set(layer.depth, labels);

    const recordedAfter = (await step('recordActivations', { corpus, model, layer: layer.name, splits: ['score'] })).records;
    const after = await step('scoreExplanations', { pipeline: p, corpus, records: recordedAfter.score!, simulations: scoreSimulations });
    const taskAfter = (await step('evaluateTask', { corpus, model })).metrics;

    const isLegible = new Set(legibleUnits);
    const meanOf = (scores: UnitScoreV1[], legible: boolean, key: 'topAndRandom' | 'randomOnly' = 'topAndRandom') =>
      mean(scores.filter((s) => isLegible.has(s.unit) === legible).map((s) => s[key]));
    layers.push({
      layer: layer.name,
      width: layer.width,
      legibleUnits,
      legibleBefore: meanOf(before.scores, true),
      legibleAfter: meanOf(after.scores, true),
      freeBefore: meanOf(before.scores, false),
      freeAfter: meanOf(after.scores, false),
      legibleRandomOnlyBefore: meanOf(before.scores, true, 'randomOnly'),
      legibleRandomOnlyAfter: meanOf(after.scores, true, 'randomOnly'),
      taskBefore: task,
      taskAfter,
      alignLoss,
      frozenWeights: retrained.layerHashes[layer.name]!,
      scoresBefore: before.scores,
      scoresAfter: after.scores,
      labels,
      recordsAfter: recordedAfter.score!,
      simulations: scoreSimulations,
      ...(dictionary ? { dictionary } : {}),
    });
    task = taskAfter;
  }
  // How much the final network leans on each layer's legible and free neurons. Runs started before this step
  // existed finish without it (their plans have no ablateNeurons settings).
  for (const l of patched(ABLATION_PATCH) ? layers : []) {
    enterLayer(l.layer, { searchAttribute: false });
    const { loss, lossWithoutLegible, lossWithoutFree } = await step('ablateNeurons', { corpus, model, layer: l.layer, legibleUnits: l.legibleUnits });
    l.ablation = { loss, lossWithoutLegible, lossWithoutFree };
  }
  finish();

  return {
    pipeline: plan.pipelineName,
    pipelineHash: plan.pipelineHash,
    corpus: {
      ref: corpus,
      sentences: prepared.sentences,
      tokens: prepared.tokens,
      vocabularySize: prepared.vocabularySize,
      trainTokens: prepared.splitSizes.train.tokens,
      heldOutTokens: prepared.splitSizes.heldOut.tokens,
    },
    base: baseTask,
    layers,
    finalModel: model,
    finalLayerHashes: layerHashes,
    backends: [...backends],
    usage: usage(),
  };
}

/** The `count` best-explained units (highest top-and-random score on the selection text; ties by unit index). */
function pickLegibleUnitsV1(scores: UnitScoreV1[], count: number): number[] {
  return [...scores]
    .sort((a, b) => b.topAndRandom - a.topAndRandom || a.unit - b.unit)
    .slice(0, count)
    .map((s) => s.unit)
    .sort((a, b) => a - b);
}

