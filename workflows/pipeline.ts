// The pipeline workflows: deterministic orchestration of one run (and of a sweep of runs). It receives the expanded plan as its input and
// calls one activity per step on the task queue of the step's resource tag: train the base model, then for each
// layer in order explain, simulate and score its units, align the legible ones, freeze it and retrain above, and
// re-score. It returns the per-layer tradeoff report. No I/O, clocks or randomness here: only Temporal's own APIs.
import { defineQuery, executeChild, patched, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Plan, SweepPlan, SweepSettings } from '../pipelines/plan';
import type { StepKind } from '../pipelines/schema';
import type { TaskMetrics } from '../nn/train';
import type { ArtifactRef } from '../store/artifacts';
import type { UnitScore } from '../interp/scoring';
import { addUsage, noUsage, type Usage } from '../llm/types';
import { LAYER_ATTRIBUTE, PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE, STEP_ATTRIBUTE } from '../temporal/search-attributes';

export interface LayerReport {
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
  scoresBefore: UnitScore[];
  scoresAfter: UnitScore[];
  /** The neurons' labels (legible neurons carry their dictionary feature's label). */
  labels: ArtifactRef[];
  /** Activations on the scoring text after alignment, and the labels' simulations there (for neuron cards). */
  recordsAfter: ArtifactRef;
  simulations: ArtifactRef[];
  dictionary?: DictionaryReport;
  /** Held-out loss of the final model with the layer's legible, or free, neurons held at zero. */
  ablation?: { loss: number; lossWithoutLegible: number; lossWithoutFree: number };
}

export interface DictionaryReport {
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

export interface PipelineReport {
  pipeline: string;
  pipelineHash: string;
  corpus: { ref: ArtifactRef; sentences: number; tokens: number; vocabularySize: number; trainTokens: number; heldOutTokens: number };
  base: TaskMetrics;
  layers: LayerReport[];
  finalModel: ArtifactRef;
  /** sha256 prefixes of every hidden layer's weights in the final model. */
  finalLayerHashes: Record<string, string>;
  backends: string[];
  /** Language-model calls and tokens of every explain and simulate step together. */
  usage: Usage;
}

export interface PipelineProgress {
  layer?: string;
  step?: StepKind;
  completedSteps: number;
}

export const progressQuery = defineQuery<PipelineProgress>('progress');

/** patched() markers of workflow changes that runs started by older code must replay around. */
const ABLATION_PATCH = 'ablate-neurons-after-layers';

export async function legiblePipeline(plan: Plan): Promise<PipelineReport> {
  const p = plan.pipeline;
  const progress: PipelineProgress = { completedSteps: 0 };
  setHandler(progressQuery, () => progress);
  const backends = new Set<string>();
  let usage = noUsage();

  /** Runs one step as an activity on its tag's task queue, with its timeouts and retry policy. */
  async function step<K extends StepKind>(kind: K, input: Parameters<Activities[K]>[0]): Promise<Awaited<ReturnType<Activities[K]>>> {
    const units = 'units' in input && Array.isArray(input.units) ? input.units : undefined;
    const where = [progress.layer ? `layer ${progress.layer}` : 'model', ...(units && units.length > 0 ? [`units ${units[0]}–${units[units.length - 1]}`] : []), ...('split' in input ? [`${input.split} text`] : [])];
    const o = plan.steps[kind];
    progress.step = kind;
    upsertSearchAttributes([{ key: STEP_ATTRIBUTE, value: kind }]);
    setCurrentDetails(`${progress.layer ? `layer ${progress.layer}: ` : ''}${kind}`);
    const activity = proxyActivities<Activities>({
      taskQueue: o.taskQueue,
      startToCloseTimeout: o.startToCloseTimeout,
      ...(o.heartbeatTimeout ? { heartbeatTimeout: o.heartbeatTimeout } : {}),
      retry: o.retry,
      summary: where.join(', '),
    })[kind] as (i: typeof input) => Promise<Awaited<ReturnType<Activities[K]>>>;
    const result = await activity(input);
    progress.completedSteps++;
    if ('backend' in result && typeof result.backend === 'string') backends.add(result.backend);
    if ('usage' in result) usage = addUsage(usage, result.usage);
    return result;
  }

  const prepared = await step('prepareCorpus', { pipeline: p });
  const corpus = prepared.corpus;
  const base = await step('trainBaseModel', { pipeline: p, corpus });
  let model = base.model;
  let layerHashes = base.layerHashes;
  let task = (await step('evaluateTask', { corpus, model })).metrics;
  const baseTask = task;
  const layers: LayerReport[] = [];

  /** Labels of each processed layer's neurons, by depth: the incoming context of the layer above. */
  const labelsByDepth = new Map<number, ArtifactRef[]>();
  const incoming = p.interpretability.incoming;

  for (const layer of plan.layers) {
    progress.layer = layer.name;
    upsertSearchAttributes([{ key: LAYER_ATTRIBUTE, value: layer.name }]);
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
    let dictionary: DictionaryReport | undefined;
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
      legibleUnits = pickLegibleUnits(selection.scores, layer.legibleUnits);
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
    const meanOf = (scores: UnitScore[], legible: boolean, key: 'topAndRandom' | 'randomOnly' = 'topAndRandom') =>
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
    progress.layer = l.layer;
    const { loss, lossWithoutLegible, lossWithoutFree } = await step('ablateNeurons', { corpus, model, layer: l.layer, legibleUnits: l.legibleUnits });
    l.ablation = { loss, lossWithoutLegible, lossWithoutFree };
  }
  progress.step = undefined;
  progress.layer = undefined;
  setCurrentDetails('finished');

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
    usage,
  };
}

/** The `count` best-explained units (highest top-and-random score on the selection text; ties by unit index). */
export function pickLegibleUnits(scores: UnitScore[], count: number): number[] {
  return [...scores]
    .sort((a, b) => b.topAndRandom - a.topAndRandom || a.unit - b.unit)
    .slice(0, count)
    .map((s) => s.unit)
    .sort((a, b) => a - b);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function batches<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export interface SweepReport {
  pipeline: string;
  pipelineHash: string;
  points: { settings: SweepSettings; workflowId: string; report: PipelineReport }[];
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
