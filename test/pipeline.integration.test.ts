// End to end on the real Temporal dev server: a small pipeline (dictionary learning on its second layer, units
// fanned out in batches) runs every step as an activity on the task queue of its resource tag, legible neurons'
// scores rise, frozen layers stay frozen, and a second run reuses every result.
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { planSize } from '../pipelines/plan-size';
import { STEP_KINDS, type StepKind } from '../pipelines/schema';
import { legibleClient, startPipelineRun } from '../temporal/client';
import { runHistories, type WorkflowHistory } from '../temporal/runs';
import { localEnvironment } from './helpers/dev-server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';
import type { PipelineReport } from '../workflows/pipeline';
import { currentReport } from '../report/text';

const PIPELINE = `
name: itest
seed: 3
corpus: { sentences: 3000 }
model:
  vocabularySize: 500
  hidden: [{ name: h1, width: 16 }, { name: h2, width: 16 }]
training: { epochs: 2 }
interpretability:
  explanationSequences: 600
  scoringSequences: 200
  legibleFraction: 0.5
  unitsPerActivity: 8
  layers:
    h2: { dictionary: { expansion: 2, k: 2, epochs: 10 } }
alignment: { sequences: 800, epochs: 3 }
steps:
  evaluateTask: { tag: gpu }
`;
const PREFIX = 'itest';

describe('a pipeline on the Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let workers: RunningWorkers;
  let report: PipelineReport;
  let scheduled: { type: StepKind; queue: string; id: string }[];
  let completed: Map<string, { reused: boolean; alignLoss?: number }>;
  let inputs: Map<string, ScoringInput>;
  let histories: WorkflowHistory[] = [];
  const plan = expandPlan(parsePipeline(PIPELINE), PIPELINE, PREFIX);

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: mkdtempSync(join(tmpdir(), 'legible-it-')), queuePrefix: PREFIX });
    const { handle } = await startPipelineRun(env.connection, plan, PIPELINE, { queuePrefix: PREFIX, workflowId: 'itest-1' });
    report = currentReport(await handle.result());
    // The run's workflow, its layers' child workflows and their fan-outs.
    histories = await runHistories(legibleClient(env.connection, undefined), 'itest-1');
    // Event ids are per history: keyed by run id and event id.
    const events = histories.flatMap((h) => h.events.map((e) => ({ e, key: (id: unknown) => `${h.runId}/${String(id)}` })));
    scheduled = events
      .filter(({ e }) => e.activityTaskScheduledEventAttributes)
      .map(({ e, key }) => ({
        type: e.activityTaskScheduledEventAttributes!.activityType!.name as StepKind,
        queue: e.activityTaskScheduledEventAttributes!.taskQueue!.name!,
        id: key(e.eventId),
      }));
    inputs = new Map(events.filter(({ e }) => e.activityTaskScheduledEventAttributes).map(({ e, key }) => [key(e.eventId), decode(e.activityTaskScheduledEventAttributes!.input!) as unknown as ScoringInput]));
    completed = new Map(
      events.filter(({ e }) => e.activityTaskCompletedEventAttributes).map(({ e, key }) => [key(e.activityTaskCompletedEventAttributes!.scheduledEventId), decode(e.activityTaskCompletedEventAttributes!.result!)]),
    );
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
  });

  it('runs every step kind as an activity on the task queue of its tag', () => {
    // Every kind but permuteLabels (alignment to permuted labels, a control this pipeline does not ask for).
    assert.deepEqual(new Set(scheduled.map((s) => s.type)), new Set(Object.keys(STEP_KINDS).filter((k) => k !== 'permuteLabels')));
    for (const s of scheduled) {
      const tag = s.type === 'evaluateTask' ? 'gpu' : STEP_KINDS[s.type];
      assert.equal(s.queue, `${PREFIX}-${tag}`, `${s.type} ran on ${s.queue}`);
    }
    const count = (kind: StepKind) => scheduled.filter((s) => s.type === kind).length;
    // Per layer: the constructed model and its matched control are aligned, retrained and evaluated.
    // Substitution before and after per layer; the random network is recorded at each layer; one run on the labels alone.
    const once = { prepareCorpus: 1, trainBaseModel: 1, evaluateTask: 5, recordActivations: 6, learnDictionary: 1, assignDictionaryFeatures: 1, alignLegibleNeurons: 4, retrainLayersAbove: 4, ablateNeurons: 2, substituteLabels: 4, drawRandomLabels: 2, initialiseRandomModel: 1, runOnLabelsAlone: 1 };
    for (const [kind, n] of Object.entries(once)) assert.equal(count(kind as StepKind), n, kind);
    // 16 neurons in batches of 8: explain and simulate fan out, and the dictionary's features are explained too.
    assert.ok(count('explainNeurons') >= 5, `${count('explainNeurons')} explain activities`);
    assert.ok(count('simulateNeurons') >= 10, `${count('simulateNeurons')} simulate activities`);
    assert.equal(completed.size, scheduled.length);
    // The estimate `legible validate` prints counts the same activities, and bounds the history and the report.
    const size = planSize(plan);
    assert.equal(size.activities, scheduled.length);
    assert.ok(size.resultBytes >= JSON.stringify(report).length, `estimated report ${size.resultBytes} bytes, actual ${JSON.stringify(report).length}`);
    // Each layer a child workflow, each explain or simulate fan-out a child of its layer; each history within its estimate.
    const layerHistories = histories.filter((h) => /-layer-[^-]+$/.test(h.workflowId));
    assert.deepEqual(layerHistories.map((h) => h.workflowId), plan.layers.map((l) => `itest-1-layer-${l.name}`));
    assert.ok(size.pipelineEvents >= histories[0]!.events.length, `estimated ${size.pipelineEvents} events, actual ${histories[0]!.events.length}`);
    for (const h of layerHistories) assert.ok(size.layerEvents >= h.events.length, `${h.workflowId}: estimated ${size.layerEvents} events, actual ${h.events.length}`);
    const fanOuts = histories.filter((h) => /-\d+-(explain|simulate)Neurons$/.test(h.workflowId));
    assert.ok(fanOuts.length >= 14);
    for (const h of fanOuts) assert.ok(size.fanOut.eventsPerRun >= h.events.length, `${h.workflowId}: estimated ${size.fanOut.eventsPerRun} events, actual ${h.events.length}`);
  });

  it('raises the legible neurons\' explanation scores, measured on the same tokens before and after', () => {
    assert.equal(report.layers[0]!.legibleUnits.length, 8);
    const h1 = report.layers[0]!;
    assert.ok(h1.legible.after.gain!.ci95[0] > 0, `h1: the gain's interval ${h1.legible.after.gain!.ci95} lies above 0`);
    // h2's legible neurons were aligned to their dictionary features' labels: they rise above their score with those.
    const h2 = report.layers[1]!;
    assert.ok(h2.legible.after.allTokens.value > h2.dictionary!.legibleBeforeWithFeatureLabels.allTokens.value);
    for (const l of report.layers) {
      const [before, after] = [l.legible.before.allTokens, l.legible.after.allTokens];
      assert.ok(after.value > before.value, `${l.layer}: legible score ${before.value} -> ${after.value}`);
      assert.ok(after.value > l.free.after.allTokens.value, `${l.layer}: legible ${after.value} vs free ${l.free.after.allTokens.value}`);
      assert.ok(before.ci95[0] <= before.value && before.value <= before.ci95[1], `${l.layer}: ${JSON.stringify(before)}`);
      assert.deepEqual(l.scoresBefore.map((s) => s.unit), l.scoresAfter.map((s) => s.unit));
    }
  });

  it('scores before and after on the very same tokens: the score text, with the sentences chosen before alignment', () => {
    const scoring = scheduled.filter((s) => s.type === 'scoreExplanations').map((s) => inputs.get(s.id)!);
    for (const l of report.layers) {
      const after = scoring.find((i) => i.records.sha256 === l.recordsAfter.sha256)!;
      assert.ok(after, `${l.layer}: the after-scoring step`);
      // After alignment, each unit's top and random sentences are chosen from the activations before it.
      assert.equal(after.sentencesFrom!.sha256, l.recordsBefore.sha256);
      assert.equal(after.baseline!.records.sha256, l.recordsBefore.sha256);
      const before = scoring.find((i) => i.records.sha256 === l.recordsBefore.sha256 && i.groups)!;
      assert.ok(before && before.sentencesFrom === undefined, `${l.layer}: the before-scoring step chooses from its own records`);
    }
  });

  it('learns a dictionary for h2 and gives its best features to legible neurons', () => {
    const d = report.layers[1]!.dictionary!;
    assert.ok(d && report.layers[0]!.dictionary === undefined);
    assert.equal(d.features, 32);
    // TopK keeps every feature tied with the k-th largest: exact float ties add a little to L0.
    assert.ok(d.fractionOfVarianceExplained > 0.5 && d.meanL0 <= 2.01, JSON.stringify(d));
    assert.deepEqual(d.assignments.map((a) => a.neuron).sort((a, b) => a - b), report.layers[1]!.legibleUnits);
    assert.ok(d.assignments.every((a, i) => i === 0 || a.featureScore <= d.assignments[i - 1]!.featureScore), 'best features first');
    assert.ok(d.assignments.every((a) => a.correlation >= d.minCorrelation), 'no assignment below the minimum correlation');
    assert.ok(new Set(d.assignments.map((a) => a.neuron)).size === d.assignments.length, 'one feature per neuron');
  });

  it('scores a legible neuron\'s "before" with its own label in dictionary mode, and "after" with its feature\'s', () => {
    const h2 = report.layers[1]!;
    const sha = (refs: { sha256: string }[]) => refs.map((r) => r.sha256).join();
    assert.notEqual(sha(h2.alignedLabels), sha(h2.labels), 'the legible neurons carry their features\' labels');
    // The simulations on the score text made from a given set of labels.
    const simulatedFrom = (labels: { sha256: string }[]) =>
      scheduled
        .filter((s) => s.type === 'simulateNeurons' && inputs.get(s.id)!.split === 'score' && sha(inputs.get(s.id)!.labels!) === sha(labels))
        .map((s) => (completed.get(s.id) as unknown as { simulation: { sha256: string } }).simulation);
    const scoring = scheduled.filter((s) => s.type === 'scoreExplanations').map((s) => inputs.get(s.id)!);
    const before = scoring.find((i) => i.records.sha256 === h2.recordsBefore.sha256 && i.groups?.free)!;
    assert.equal(sha(before.simulations), sha(simulatedFrom(h2.labels)), '"before" scores the own labels\' simulations, and only those');
    const after = scoring.find((i) => i.records.sha256 === h2.recordsAfter.sha256)!;
    assert.equal(sha(after.simulations), sha([...simulatedFrom(h2.labels), ...simulatedFrom(h2.alignedLabels)]), '"after": the features\' labels take the legible neurons\' place');
    assert.equal(h2.dictionary!.legibleBeforeWithFeatureLabels.units, h2.legibleUnits.length);
  });

  it('measures substitution before and after, the controls and the network on its labels alone', () => {
    for (const l of report.layers) {
      const f = l.faithfulness!;
      assert.ok(f, `${l.layer} has faithfulness figures`);
      for (const x of [f.before, f.after]) {
        assert.equal(x.units, l.legibleUnits.length);
        // Substitution and ablation change the loss; the fractions are finite where the ablation costs something.
        assert.ok(x.zeroAblatedLoss.value !== x.cleanLoss.value && Number.isFinite(x.recoveredVsMean.value), JSON.stringify(x));
        assert.ok(x.recoveredVsMean.ci95[0] <= x.recoveredVsMean.value && x.recoveredVsMean.value <= x.recoveredVsMean.ci95[1]);
      }
      // Before is measured on the model before this layer, after on the constructed model: their clean losses differ.
      assert.notEqual(f.before.cleanLoss.value, f.after.cleanLoss.value);
      assert.equal(f.free.after.units, l.width - l.legibleUnits.length);
      const c = l.controls!;
      assert.equal(c.shuffledLabels!.units, l.legibleUnits.length);
      assert.equal(c.randomModel.units, l.width);
      assert.ok(l.legible.after.detection && l.legible.after.fuzzing && l.legible.after.auc, 'detection, fuzzing and AUC beside correlation');
    }
    const a = report.labelsAlone!;
    assert.ok(a.unigramLoss.value > a.baseLoss.value, 'the base model beats a unigram predictor');
    assert.ok(a.labelsAloneLoss.value > a.finalLoss.value, 'the network on its labels alone loses something');
    const share = (a.unigramLoss.value - a.labelsAloneLoss.value) / (a.unigramLoss.value - a.baseLoss.value);
    assert.ok(Math.abs(a.survivingShare.value - share) < 1e-5, `surviving share ${a.survivingShare.value} vs ${share}`);
  });

  it('trains a matched control with the same number of steps, and compares the task with it', () => {
    for (const l of report.layers) {
      assert.ok(l.trainingSteps.control > 0);
      assert.equal(l.trainingSteps.control, l.trainingSteps.constructed, `${l.layer}: control ${l.trainingSteps.control} steps, constructed ${l.trainingSteps.constructed}`);
      const diff = l.task.after.loss - l.task.control.loss;
      assert.ok(Math.abs(diff - l.task.vsControl.value) < 1e-4, `${l.layer}: ${diff} vs ${l.task.vsControl.value}`);
      assert.ok(l.task.vsControl.ci95[0] <= l.task.vsControl.value && l.task.vsControl.value <= l.task.vsControl.ci95[1]);
    }
    assert.notEqual(report.controlModel.sha256, report.finalModel.sha256);
  });

  it('aligns only the legible neurons', () => {
    // Per layer: the constructed model's alignment and the matched control's (which aligns no neuron), in either order.
    const all = scheduled.filter((s) => s.type === 'alignLegibleNeurons').map((s) => completed.get(s.id)! as { alignedUnits?: number[] });
    assert.equal(all.length, 4);
    assert.equal(all.filter((a) => a.alignedUnits!.length === 0).length, 2);
    const aligns = all.filter((a) => a.alignedUnits!.length > 0);
    for (const [i, a] of aligns.entries()) {
      const l = report.layers[i]!;
      assert.deepEqual((a as { alignedUnits?: number[] }).alignedUnits, l.legibleUnits);
      assert.ok(l.legibleUnits.every((u) => u >= 0 && u < l.width));
    }
  });

  it('keeps a frozen layer\'s weights unchanged by every later retraining', () => {
    const [h1, h2] = report.layers;
    assert.equal(report.finalLayerHashes.h1, h1!.frozenWeights, 'h1 changed after it was frozen');
    assert.equal(report.finalLayerHashes.h2, h2!.frozenWeights, 'h2 changed after it was frozen');
  });

  it('reports the task metric before and after, and the backend', () => {
    for (const l of report.layers) {
      assert.ok(Number.isFinite(l.task.before.perplexity) && Number.isFinite(l.task.after.perplexity));
      assert.ok(l.task.after.perplexity < report.corpus.vocabularySize, 'the model still predicts far better than chance');
      assert.ok(l.task.after.ci95.perplexity[0] < l.task.after.perplexity && l.task.after.perplexity < l.task.after.ci95.perplexity[1]);
    }
    assert.equal(report.layers[0]!.task.before.perplexity, report.base.perplexity);
    assert.ok(report.backends.length >= 1 && report.backends.every((b) => /wasm|cpu|tensorflow/.test(b)), report.backends.join());
  });

  it('a second run of the same pipeline reuses every stored result', async () => {
    const { handle } = await startPipelineRun(env.connection, plan, PIPELINE, { queuePrefix: PREFIX, workflowId: 'itest-2' });
    const again = currentReport(await handle.result());
    assert.deepEqual(again.layers.map((l) => [l.legible.before, l.legible.after]), report.layers.map((l) => [l.legible.before, l.legible.after]));
    const results = ((await handle.fetchHistory()).events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).map((e) => decode(e.activityTaskCompletedEventAttributes!.result!));
    assert.ok(results.length > 0 && results.every((r) => r.reused === true));
  });
});

/** What a scoreExplanations (or simulateNeurons) step was given: artifact references by hash. */
interface ScoringInput {
  records: { sha256: string };
  labels?: { sha256: string }[];
  split?: string;
  simulations: { sha256: string }[];
  sentencesFrom?: { sha256: string };
  groups?: Record<string, number[]>;
  baseline?: { records: { sha256: string } };
}

function decode(payloads: temporal.api.common.v1.IPayloads): { reused: boolean } {
  return JSON.parse(Buffer.from(payloads.payloads![0]!.data!).toString('utf8'));
}
