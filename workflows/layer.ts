// One layer of a run, as a child workflow of the pipeline (so that each workflow's history stays bounded whatever the
// number of layers): explain, simulate and score its units, choose and align the legible ones, freeze the layer and
// retrain above, train the matched control, re-score on the same text, and measure substitution with the controls
// beside the scores (faithfulness.ts). Explain and simulate fan out over the llm queue in child workflows of their own
// (fan-out.ts). `processLayer` is the plain body: the pipeline runs it inline for runs started before layers were
// child workflows, with its activities fanned out in its own history.
import { patched, workflowInfo } from '@temporalio/workflow';
import type { TaskFigures } from '../activities';
import type { LabelShape } from '../llm/label-shape';
import type { LayerPlan, Plan } from '../pipelines/plan';
import type { ArtifactRef } from '../store/artifacts';
import { derangement, measureFaithfulness } from './faithfulness';
import { fanOutSteps, type FanOutKind, type FanOutInput } from './fan-out';
import type { DictionaryReport, LayerReport } from './pipeline';
import { batches, mix, range, stepRunner, type StepInput, type StepResult, type SubtreeFigures } from './steps';
import type { UnitScore } from '../interp/scoring';

/** patched() marker: layers started before it trained the matched control after the constructed model, not beside it. */
const PARALLEL_CONTROL_PATCH = 'parallel-control';

/** What a layer starts from: the constructed model and the matched control as the layers below left them. */
export interface LayerInput {
  plan: Plan;
  layer: LayerPlan;
  corpus: ArtifactRef;
  /** The base model, which `task.vsBase` compares with. */
  base: ArtifactRef;
  model: ArtifactRef;
  control: ArtifactRef;
  /** The constructed model's task figures before this layer. */
  task: TaskFigures;
  /** Every neuron's own label in the layer below, if it was processed: the incoming context. */
  labelsBelow?: ArtifactRef[];
  /** The random-network control (absent in runs started before it existed). */
  randomModel?: ArtifactRef;
  measuresFaithfulness: boolean;
}

/** What a layer hands on: its report, the models after it, and its neurons' own labels. */
export interface LayerOutcome {
  report: LayerReport;
  model: ArtifactRef;
  control: ArtifactRef;
  layerHashes: Record<string, string>;
  task: TaskFigures;
  labels: ArtifactRef[];
}

/** Runs a fan-out step over units: one activity per batch of `unitsPerActivity`. */
export type FanOut = <K extends FanOutKind>(kind: K, input: Omit<StepInput<K>, 'units'>, units: number[]) => Promise<StepResult<K>[]>;

/** The child workflow of one layer; returns its outcome with the usage, backends and steps of its whole subtree. */
export async function legibleLayer(i: LayerInput): Promise<LayerOutcome & SubtreeFigures> {
  const runner = stepRunner(i.plan);
  runner.enterLayer(i.layer.name);
  const id = workflowInfo().workflowId;
  let fanOuts = 0;
  const fanOut: FanOut = (kind, input, units) =>
    runner.child(fanOutSteps, `${id}-${++fanOuts}-${kind}`, [{ plan: i.plan, layer: i.layer.name, kind, input, batches: batches(units, i.plan.pipeline.interpretability.unitsPerActivity), done: [] } as FanOutInput], `${kind}: ${units.length} units`) as never;
  const outcome = await processLayer(i, runner.step, fanOut);
  runner.finish();
  return { ...outcome, usage: runner.usage(), backends: [...runner.backends], completedSteps: runner.completedSteps() };
}

/** The steps of one layer (see the header); `fanOut` runs the explain and simulate batches. */
export async function processLayer(i: LayerInput, step: ReturnType<typeof stepRunner>['step'], fanOut: FanOut): Promise<LayerOutcome> {
  const { plan, layer, corpus } = i;
  const p = plan.pipeline;
  const incoming = p.interpretability.incoming;
  const allUnits = range(layer.width);
  const explain = async (records: ArtifactRef, units: number[], withIncoming: boolean) => {
    const below = i.labelsBelow;
    const context = withIncoming && incoming && below ? { incoming: { model: i.model, layer: layer.name, labelsBelow: below, topN: incoming.topN } } : {};
    const results = await fanOut('explainNeurons', { pipeline: p, corpus, records, ...context }, units);
    for (const r of results) for (const shape of r.shapes ?? []) shapes.set(`${records.sha256}/${shape.unit}`, shape);
    return results.map((r) => r.labels);
  };
  /** The shape of each label made in this layer (concept or word list, listed words), by records and unit. */
  const shapes = new Map<string, LabelShape>();
  const simulate = async (labels: ArtifactRef[], split: 'select' | 'score' | 'align', units: number[]) =>
    (await fanOut('simulateNeurons', { pipeline: p, corpus, labels, split }, units)).map((r) => r.simulation);

  // Labels are made on training text (explain); the legible neurons are chosen on one part of the held-out text
  // (select), and every reported score is measured on another (score).
  const splits = layer.dictionary ? (['explain', 'align', 'select', 'score'] as const) : (['explain', 'select', 'score'] as const);
  const recorded = (await step('recordActivations', { corpus, model: i.model, layer: layer.name, splits: [...splits] })).records;
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
  // In substitute mode the layers above are retrained on the labels' simulations in the legible neurons' place.
  const substitutes = (p.alignment.mode ?? 'target') === 'substitute';
  // Align `units` of `from` to `simulations`, then retrain the layers above.
  const alignAndRetrain = async (from: ArtifactRef, units: number[], simulations: ArtifactRef[]) => {
    const aligned = await step('alignLegibleNeurons', { pipeline: p, corpus, model: from, layer: layer.name, legibleUnits: units, simulations });
    const retrained = await step('retrainLayersAbove', { pipeline: p, corpus, model: aligned.model, layer: layer.name, ...(substitutes ? { substitute: { legibleUnits: units, simulations } } : {}) });
    return { aligned, retrained };
  };
  const constructedBranch = () => alignAndRetrain(i.model, legibleUnits, targets);
  // The matched control: the same schedule with no legible neurons, from the previous layer's control.
  const controlBranch = () => alignAndRetrain(i.control, [], []);
  // The two branches are independent: they train at once, on two gpu slots where there are two. (Runs recorded
  // before this ran them one after the other, and replay so.)
  const [{ aligned, retrained }, { aligned: controlAligned, retrained: controlRetrained }] = patched(PARALLEL_CONTROL_PATCH)
    ? await Promise.all([constructedBranch(), controlBranch()])
    : [await constructedBranch(), await controlBranch()];
  const modelBefore = i.model;
  const model = retrained.model;
  const control = controlRetrained.model;

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
  const evaluated = await step('evaluateTask', { corpus, model, against: { control, base: i.base } });

  // Is the label the neuron? Substitution before and after, with the controls beside the scores.
  const faithful = i.measuresFaithfulness
    ? await measureFaithfulness({ step, simulate, explain, pipeline: p, corpus, layer: layer.name, depth: layer.depth, groups, randomModel: i.randomModel!, modelBefore, model, recordedBefore: recorded.score!, recordedAfter: recordedAfter.score!, ownOnSelect, ownSimulations, alignedLabels: relabelled ? alignedLabels : undefined, alignedSimulations })
    : {};

  const report: LayerReport = {
    layer: layer.name,
    depth: layer.depth,
    width: layer.width,
    legibleUnits,
    legibleAsked: layer.legibleUnits,
    eligible: selection.scores.filter((s) => s.allTokens > 0).length,
    legibleSelection: layer.dictionary ? 'dictionary' : p.interpretability.legibleSelection,
    ...(i.measuresFaithfulness
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
    task: { before: i.task, after: evaluated.metrics, control: controlTask, vsControl: evaluated.differences!.control!, vsBase: evaluated.differences!.base! },
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
  };
  return { report, model, control, layerHashes: retrained.layerHashes, task: evaluated.metrics, labels: neuronLabels };
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
