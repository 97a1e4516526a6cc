// End to end on the real Temporal dev server: a small pipeline (dictionary learning on its second layer, units
// fanned out in batches) runs every step as an activity on the task queue of its resource tag, legible neurons'
// scores rise, frozen layers stay frozen, and a second run reuses every result.
import type { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { STEP_KINDS, type StepKind } from '../pipelines/schema';
import { startPipelineRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, type RunningWorkers } from '../temporal/workers';
import type { PipelineReport } from '../workflows/pipeline';

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
  const plan = expandPlan(parsePipeline(PIPELINE), PIPELINE, PREFIX);

  before(async () => {
    const cli = ensureTemporalCli();
    spawnSync(cli, ['--version']); // a warm binary starts within createLocal's fixed wait
    installQuietRuntime();
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: cli }, searchAttributes: SEARCH_ATTRIBUTES } });
    workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: mkdtempSync(join(tmpdir(), 'legible-it-')), queuePrefix: PREFIX });
    const { handle } = await startPipelineRun(env.connection, plan, PIPELINE, { queuePrefix: PREFIX, workflowId: 'itest-1' });
    report = await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    scheduled = events
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => ({
        type: e.activityTaskScheduledEventAttributes!.activityType!.name as StepKind,
        queue: e.activityTaskScheduledEventAttributes!.taskQueue!.name!,
        id: String(e.eventId),
      }));
    completed = new Map(
      events
        .filter((e) => e.activityTaskCompletedEventAttributes)
        .map((e) => [String(e.activityTaskCompletedEventAttributes!.scheduledEventId), decode(e.activityTaskCompletedEventAttributes!.result!)]),
    );
  });

  after(async () => {
    await workers?.shutdown();
    await env?.teardown();
  });

  it('runs every step kind as an activity on the task queue of its tag', () => {
    assert.deepEqual(new Set(scheduled.map((s) => s.type)), new Set(Object.keys(STEP_KINDS)));
    for (const s of scheduled) {
      const tag = s.type === 'evaluateTask' ? 'gpu' : STEP_KINDS[s.type];
      assert.equal(s.queue, `${PREFIX}-${tag}`, `${s.type} ran on ${s.queue}`);
    }
    const count = (kind: StepKind) => scheduled.filter((s) => s.type === kind).length;
    const once = { prepareCorpus: 1, trainBaseModel: 1, evaluateTask: 3, recordActivations: 4, learnDictionary: 1, assignDictionaryFeatures: 1, alignLegibleNeurons: 2, retrainLayersAbove: 2 };
    for (const [kind, n] of Object.entries(once)) assert.equal(count(kind as StepKind), n, kind);
    // 16 neurons in batches of 8: explain and simulate fan out, and the dictionary's features are explained too.
    assert.ok(count('explainNeurons') >= 5, `${count('explainNeurons')} explain activities`);
    assert.ok(count('simulateNeurons') >= 10, `${count('simulateNeurons')} simulate activities`);
    assert.equal(completed.size, scheduled.length);
  });

  it('raises the legible neurons\' explanation scores', () => {
    for (const l of report.layers) {
      assert.equal(l.legibleUnits.length, 8, l.layer);
      assert.ok(l.legibleAfter > l.legibleBefore, `${l.layer}: legible score ${l.legibleBefore} -> ${l.legibleAfter}`);
      assert.ok(l.legibleAfter > l.freeAfter, `${l.layer}: legible ${l.legibleAfter} vs free ${l.freeAfter}`);
    }
  });

  it('learns a dictionary for h2 and gives its best features to legible neurons', () => {
    const d = report.layers[1]!.dictionary!;
    assert.ok(d && report.layers[0]!.dictionary === undefined);
    assert.equal(d.features, 32);
    assert.ok(d.fractionOfVarianceExplained > 0.5 && d.meanL0 <= 2 + 1e-9, JSON.stringify(d));
    assert.deepEqual(d.assignments.map((a) => a.neuron).sort((a, b) => a - b), report.layers[1]!.legibleUnits);
    assert.ok(d.assignments.every((a, i) => i === 0 || a.featureScore <= d.assignments[i - 1]!.featureScore), 'best features first');
  });

  it('aligns only the legible neurons', () => {
    const aligns = scheduled.filter((s) => s.type === 'alignLegibleNeurons').map((s) => completed.get(s.id)!);
    assert.equal(aligns.length, 2);
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
      assert.ok(Number.isFinite(l.taskBefore.perplexity) && Number.isFinite(l.taskAfter.perplexity));
      assert.ok(l.taskAfter.perplexity < report.corpus.vocabularySize, 'the model still predicts far better than chance');
    }
    assert.equal(report.layers[0]!.taskBefore.perplexity, report.base.perplexity);
    assert.ok(report.backends.length >= 1 && report.backends.every((b) => /wasm|cpu|tensorflow/.test(b)), report.backends.join());
  });

  it('a second run of the same pipeline reuses every stored result', async () => {
    const { handle } = await startPipelineRun(env.connection, plan, PIPELINE, { queuePrefix: PREFIX, workflowId: 'itest-2' });
    const again = await handle.result();
    assert.deepEqual(again.layers.map((l) => [l.legibleBefore, l.legibleAfter]), report.layers.map((l) => [l.legibleBefore, l.legibleAfter]));
    const results = ((await handle.fetchHistory()).events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).map((e) => decode(e.activityTaskCompletedEventAttributes!.result!));
    assert.ok(results.length > 0 && results.every((r) => r.reused === true));
  });
});

function decode(payloads: temporal.api.common.v1.IPayloads): { reused: boolean } {
  return JSON.parse(Buffer.from(payloads.payloads![0]!.data!).toString('utf8'));
}
