// The pipeline workflow: deterministic orchestration of one run. It receives the expanded plan as its input and
// calls one activity per step on the task queue of the step's resource tag: train the base model, then for each
// layer in order explain, simulate and score its units, align the legible ones, freeze it and retrain above, and
// re-score. It returns the per-layer tradeoff report. No I/O, clocks or randomness here: only Temporal's own APIs.
import { defineQuery, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Plan } from '../pipelines/plan';
import type { StepKind } from '../pipelines/schema';
import type { TaskMetrics } from '../nn/train';
import type { ArtifactRef } from '../store/artifacts';
import type { UnitScore } from '../interp/scoring';
import { LAYER_ATTRIBUTE, STEP_ATTRIBUTE } from '../temporal/search-attributes';

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
  labels: ArtifactRef;
}

export interface PipelineReport {
  pipeline: string;
  pipelineHash: string;
  corpus: { sentences: number; tokens: number; vocabularySize: number; trainTokens: number; heldOutTokens: number };
  base: TaskMetrics;
  layers: LayerReport[];
  finalModel: ArtifactRef;
  /** sha256 prefixes of every hidden layer's weights in the final model. */
  finalLayerHashes: Record<string, string>;
  backends: string[];
}

export interface PipelineProgress {
  layer?: string;
  step?: StepKind;
  completedSteps: number;
}

export const progressQuery = defineQuery<PipelineProgress>('progress');

export async function legiblePipeline(plan: Plan): Promise<PipelineReport> {
  const p = plan.pipeline;
  const progress: PipelineProgress = { completedSteps: 0 };
  setHandler(progressQuery, () => progress);
  const backends = new Set<string>();

  /** Runs one step as an activity on its tag's task queue, with its timeouts and retry policy. */
  async function step<K extends StepKind>(kind: K, input: Parameters<Activities[K]>[0]): Promise<Awaited<ReturnType<Activities[K]>>> {
    const o = plan.steps[kind];
    progress.step = kind;
    upsertSearchAttributes([{ key: STEP_ATTRIBUTE, value: kind }]);
    setCurrentDetails(`${progress.layer ? `layer ${progress.layer}: ` : ''}${kind}`);
    const activity = proxyActivities<Activities>({
      taskQueue: o.taskQueue,
      startToCloseTimeout: o.startToCloseTimeout,
      ...(o.heartbeatTimeout ? { heartbeatTimeout: o.heartbeatTimeout } : {}),
      retry: o.retry,
      summary: progress.layer ? `${kind} ${progress.layer}` : kind,
    })[kind] as (i: typeof input) => Promise<Awaited<ReturnType<Activities[K]>>>;
    const result = await activity(input);
    progress.completedSteps++;
    if ('backend' in result && typeof result.backend === 'string') backends.add(result.backend);
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

  for (const layer of plan.layers) {
    progress.layer = layer.name;
    upsertSearchAttributes([{ key: LAYER_ATTRIBUTE, value: layer.name }]);
    const allUnits = Array.from({ length: layer.width }, (_, i) => i);

    // Labels are made on training text; the legible neurons are chosen on one part of the held-out text, and every
    // reported score is measured on another: the same text, labels and simulation before and after alignment.
    const recorded = await step('recordActivations', { corpus, model, layer: layer.name, splits: ['explain', 'select', 'score'] });
    const explained = await step('explainNeurons', { pipeline: p, corpus, records: recorded.records.explain! });
    const labels = explained.labels;
    const simSelect = await step('simulateNeurons', { pipeline: p, corpus, labels, split: 'select', units: allUnits });
    const simScore = await step('simulateNeurons', { pipeline: p, corpus, labels, split: 'score', units: allUnits });
    const selection = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.records.select!, simulation: simSelect.simulation });
    const before = await step('scoreExplanations', { pipeline: p, corpus, records: recorded.records.score!, simulation: simScore.simulation });

    const legibleUnits = pickLegibleUnits(selection.scores, layer.legibleUnits);
    let alignLoss = 0;
    if (legibleUnits.length > 0) {
      const targets = await step('simulateNeurons', { pipeline: p, corpus, labels, split: 'align', units: legibleUnits });
      const aligned = await step('alignLegibleNeurons', { pipeline: p, corpus, model, layer: layer.name, legibleUnits, simulation: targets.simulation });
      model = aligned.model;
      alignLoss = aligned.alignLoss;
    }
    const retrained = await step('retrainLayersAbove', { pipeline: p, corpus, model, layer: layer.name });
    model = retrained.model;
    layerHashes = retrained.layerHashes;

    const recordedAfter = await step('recordActivations', { corpus, model, layer: layer.name, splits: ['score'] });
    const after = await step('scoreExplanations', { pipeline: p, corpus, records: recordedAfter.records.score!, simulation: simScore.simulation });
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
    });
    task = taskAfter;
  }
  progress.step = undefined;
  setCurrentDetails('finished');

  return {
    pipeline: plan.pipelineName,
    pipelineHash: plan.pipelineHash,
    corpus: {
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

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}
