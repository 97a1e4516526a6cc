// Expands a validated pipeline into the plan a workflow runs: the layers to process in order, how many legible
// neurons each gets, and for every step kind its task queue, timeouts and retry policy. The workflow receives
// this plan as its input, so replaying a run never depends on a file that may have changed.
import { createHash } from 'node:crypto';
import { DICTIONARY_DEFAULTS, hiddenLayers, STEP_KIND_NAMES, STEP_KINDS, type DictionarySettings, type Pipeline, type ResourceTag, type StepKind } from './schema';

export interface StepOptions {
  tag: ResourceTag;
  taskQueue: string;
  startToCloseTimeout: string;
  heartbeatTimeout?: string;
  retry: { maximumAttempts: number; initialInterval: string; backoffCoefficient: number; maximumInterval: string };
}

export interface LayerPlan {
  name: string;
  /** Dictionary learning for this layer, if on. */
  dictionary?: DictionarySettings;
  /** Index among the model's hidden layers, 0 = lowest. */
  depth: number;
  width: number;
  legibleFraction: number;
  /** Number of neurons made legible: round(legibleFraction * width). */
  legibleUnits: number;
}

export interface Plan {
  pipelineName: string;
  /** sha256 of the pipeline YAML text. */
  pipelineHash: string;
  pipeline: Pipeline;
  layers: LayerPlan[];
  steps: Record<StepKind, StepOptions>;
}

/** A sweep: one plan per combination of the swept settings, each run as a child workflow. */
export interface SweepPlan {
  pipelineName: string;
  pipelineHash: string;
  points: { settings: SweepSettings; plan: Plan }[];
}

export interface SweepSettings {
  legibleFraction?: number;
  startingDepth?: number;
  dictionary?: boolean;
  alignmentWeight?: number;
  alignmentOffWeight?: number;
  alignmentMode?: 'target' | 'substitute';
  alignmentLabels?: 'own' | 'permuted';
  legibleSelection?: 'best' | 'random';
  seed?: number;
}

export const DEFAULT_QUEUE_PREFIX = 'legible';

export function taskQueueFor(tag: ResourceTag, prefix = DEFAULT_QUEUE_PREFIX): string {
  return `${prefix}-${tag}`;
}

/** Long steps heartbeat; a silent worker is presumed dead after this long and the step is retried elsewhere. */
const LONG_STEPS: ReadonlySet<StepKind> = new Set(['trainBaseModel', 'learnDictionary', 'alignLegibleNeurons', 'retrainLayersAbove']);

export function expandPlan(pipeline: Pipeline, yamlText: string, queuePrefix = DEFAULT_QUEUE_PREFIX): Plan {
  const hidden = hiddenLayers(pipeline.model);
  const order = pipeline.interpretability.layerOrder ?? hidden.map((h) => h.name);
  const layers = order
    .map((name) => hidden.findIndex((h) => h.name === name))
    .filter((depth) => depth >= pipeline.interpretability.startingDepth)
    .map((depth): LayerPlan => {
      const { name, width } = hidden[depth]!;
      const legibleFraction = pipeline.interpretability.layers[name]?.legibleFraction ?? pipeline.interpretability.legibleFraction;
      const dictionary = pipeline.interpretability.layers[name]?.dictionary ?? pipeline.interpretability.dictionary;
      return { name, depth, width, legibleFraction, legibleUnits: Math.round(legibleFraction * width), ...(dictionary?.enabled ? { dictionary } : {}) };
    });
  const defaults = pipeline.steps.defaults ?? {};
  const steps = Object.fromEntries(
    STEP_KIND_NAMES.map((kind): [StepKind, StepOptions] => {
      const own = pipeline.steps[kind] ?? {};
      const tag = own.tag ?? defaults.tag ?? STEP_KINDS[kind];
      const long = LONG_STEPS.has(kind);
      const heartbeatTimeout = own.heartbeatTimeout ?? defaults.heartbeatTimeout ?? (long ? '2m' : undefined);
      return [
        kind,
        {
          tag,
          taskQueue: taskQueueFor(tag, queuePrefix),
          startToCloseTimeout: own.startToCloseTimeout ?? defaults.startToCloseTimeout ?? (long ? '2h' : '30m'),
          ...(heartbeatTimeout ? { heartbeatTimeout } : {}),
          retry: {
            maximumAttempts: 3,
            initialInterval: '1s',
            backoffCoefficient: 2,
            maximumInterval: '1m',
            ...defaults.retry,
            ...own.retry,
          },
        },
      ];
    }),
  ) as Record<StepKind, StepOptions>;
  return { pipelineName: pipeline.name, pipelineHash: sha256(yamlText), pipeline, layers, steps };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The pipeline as it runs at one point of its sweep. */
export function pipelineAt(p: Pipeline, at: SweepSettings): Pipeline {
  const q: Pipeline = structuredClone({ ...p, sweep: undefined });
  delete q.sweep;
  if (at.legibleFraction !== undefined) {
    q.interpretability.legibleFraction = at.legibleFraction;
    for (const layer of Object.values(q.interpretability.layers)) delete layer.legibleFraction;
  }
  if (at.startingDepth !== undefined) q.interpretability.startingDepth = at.startingDepth;
  if (at.alignmentWeight !== undefined) q.alignment.weight = at.alignmentWeight;
  if (at.alignmentOffWeight !== undefined) q.alignment.offWeight = at.alignmentOffWeight;
  if (at.alignmentMode !== undefined) q.alignment.mode = at.alignmentMode;
  if (at.alignmentLabels !== undefined) q.alignment.labels = at.alignmentLabels;
  if (at.legibleSelection !== undefined) q.interpretability.legibleSelection = at.legibleSelection;
  if (at.seed !== undefined) q.seed = at.seed;
  if (at.dictionary !== undefined) {
    q.interpretability.dictionary = { ...(q.interpretability.dictionary ?? DICTIONARY_DEFAULTS), enabled: at.dictionary };
    for (const layer of Object.values(q.interpretability.layers)) delete layer.dictionary;
  }
  return q;
}

/** Every combination of the swept settings, in the order the sweep lists them. */
export function sweepPoints(sweep: NonNullable<Pipeline['sweep']>): SweepSettings[] {
  let points: SweepSettings[] = [{}];
  for (const [key, values] of Object.entries(sweep) as [keyof SweepSettings, (number | boolean)[] | undefined][]) {
    if (!values) continue;
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

export function expandSweep(pipeline: Pipeline, yamlText: string, queuePrefix = DEFAULT_QUEUE_PREFIX): SweepPlan {
  if (!pipeline.sweep) throw new Error(`pipeline ${pipeline.name} declares no sweep`);
  const points = sweepPoints(pipeline.sweep).map((settings) => ({ settings, plan: expandPlan(pipelineAt(pipeline, settings), yamlText, queuePrefix) }));
  return { pipelineName: pipeline.name, pipelineHash: points[0]!.plan.pipelineHash, points };
}
