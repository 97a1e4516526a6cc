// Durability on a real dev server: a worker killed mid-training is replaced and the run ends as an uninterrupted one
// does, resuming from a checkpoint; the server stopped mid-run and started again on its SQLite file lets the run
// finish; a run failed for good is resumed from its failed step without redoing the finished ones.
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { startPipelineRun } from '../temporal/client';
import { listRuns, planResume, resumeRun, stepsOf } from '../temporal/runs';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix, type RunningWorkers } from '../temporal/workers';
import type { legiblePipeline, PipelineReport } from '../workflows/pipeline';
import { currentReport } from '../report/text';
import { freePort } from '../temporal/server';
import { startDevServer, type DevServer } from './helpers/dev-server';
import { startFakeOpenAI, toyInterpreter, type FakeOpenAI } from './helpers/fake-openai';

const ROOT = join(__dirname, '..');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `legible-${name}-`));

const pipelineText = (name: string, extra = '') => `
name: ${name}
seed: 5
corpus: { sentences: 3000 }
model:
  vocabularySize: 500
  hidden: [{ name: h1, width: 16 }, { name: h2, width: 16 }]
training: { epochs: 6, batchSize: 32 }
interpretability: { explanationSequences: 600, scoringSequences: 200 }
alignment: { sequences: 600, epochs: 2 }
steps:
  defaults: { retry: { initialInterval: 100ms, maximumAttempts: 3 } }
  trainBaseModel: { heartbeatTimeout: 4s }
${extra}`;

function workerProcess(address: string, storeRoot: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'worker.ts')], {
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: address, LEGIBLE_HOME: storeRoot },
    stdio: 'ignore',
  });
}

const scoresOf = (r: PipelineReport) => r.layers.map((l) => [l.legible.before.allTokens.value, l.legible.after.allTokens.value, l.free.after.allTokens.value, l.task.after.loss]);

describe('durable runs', () => {
  let server: DevServer;
  let client: Client;
  const children: ChildProcess[] = [];
  const inProcess: RunningWorkers[] = [];
  let fake: FakeOpenAI | undefined;

  before(async () => {
    installQuietRuntime();
    server = await startDevServer(join(tmp('db'), 'temporal.sqlite'), await freePort());
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const w of inProcess) await w.shutdown();
    await client?.connection.close();
    await server?.stop();
    await fake?.close();
  });

  it('a worker killed mid-training is replaced, and the run resumes from a checkpoint to the same result', async () => {
    const text = pipelineText('durable');
    // The reference: the same pipeline, uninterrupted, with a store of its own.
    const reference = await startWorkers({ address: server.address, tags: ALL_TAGS, workflows: true, storeRoot: tmp('ref'), queuePrefix: 'ref' });
    inProcess.push(reference);
    const ref = currentReport(await (await startPipelineRun(client.connection, expandPlan(parsePipeline(text), text, 'ref'), text, { queuePrefix: 'ref', workflowId: 'durable-reference' })).handle.result());

    const store = tmp('killed');
    children.push(workerProcess(server.address, store));
    // The worker processes poll their store's task queues (worker.ts), so the run is started on them.
    const queuePrefix = await storeQueuePrefix(store);
    const { handle } = await startPipelineRun(client.connection, expandPlan(parsePipeline(text), text, queuePrefix), text, { queuePrefix, workflowId: 'durable-killed' });
    // Wait until training has announced a checkpoint in its heartbeat, then kill the worker outright.
    for (let i = 0; ; i++) {
      assert.ok(i < 600, 'no checkpoint was heartbeated');
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const details = pending.find((a) => a.activityType?.name === 'trainBaseModel')?.heartbeatDetails?.payloads?.[0]?.data;
      if (details && Buffer.from(details).toString().includes('checkpoint')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    children[0]!.kill('SIGKILL');
    children.push(workerProcess(server.address, store));
    const report = currentReport(await handle.result());

    const events = (await handle.fetchHistory()).events ?? [];
    const training = stepsOf(events).find((s) => s.kind === 'trainBaseModel')!;
    assert.equal(training.state, 'completed');
    assert.ok(training.attempt >= 2, `attempt ${training.attempt}`);
    const done = events.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === training.scheduledEventId)!;
    const result = JSON.parse(Buffer.from(done.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString());
    assert.ok(result.resumedFrom && result.resumedFrom.epoch >= 1, `resumed from ${JSON.stringify(result.resumedFrom)}`);

    // A resumed run reproduces the uninterrupted one bit for bit (the checkpoint keeps Adam's running beta powers too):
    // the same final weights, the same legible neurons, the same figures.
    assert.equal(report.finalModel.sha256, ref.finalModel.sha256, 'final weights hash');
    assert.deepEqual(report.layers.map((l) => l.legibleUnits), ref.layers.map((l) => l.legibleUnits));
    assert.deepEqual(scoresOf(report), scoresOf(ref));
    assert.equal(report.base.loss, ref.base.loss);
  });

  it('the run finishes when the server is stopped mid-run and started again on the same SQLite file', async () => {
    const text = pipelineText('restart');
    const workers = await startWorkers({ address: server.address, tags: ALL_TAGS, workflows: true, storeRoot: tmp('restart'), queuePrefix: 'restart' });
    inProcess.push(workers);
    const { handle } = await startPipelineRun(client.connection, expandPlan(parsePipeline(text), text, 'restart'), text, { queuePrefix: 'restart', workflowId: 'restart-1' });
    for (let i = 0; i < 600; i++) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      if (pending.some((a) => a.activityType?.name === 'trainBaseModel')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const db = server.child.spawnargs[server.child.spawnargs.indexOf('--db-filename') + 1]!;
    const port = Number(server.address.split(':')[1]);
    await server.stop();
    await new Promise((r) => setTimeout(r, 1000));
    server = await startDevServer(db, port);
    const report = currentReport(await client.workflow.getHandle<typeof legiblePipeline>('restart-1').result());
    assert.equal(report.layers.length, 2);
    assert.ok(report.layers.every((l) => l.legible.after.allTokens.value > l.legible.before.allTokens.value));
  });

  it('a run that failed for good is resumed from its failed step; finished steps do not run again', async () => {
    let healthy = false;
    fake = await startFakeOpenAI((req) => (healthy ? toyInterpreter(req) : { status: 503 }));
    const llm = `simulator: { provider: openai, model: toy, baseURL: "${fake.baseURL}", apiKeyEnv: LEGIBLE_NO_KEY, maxRetries: 0, sentencesPerCall: 50, requestsPerSecond: 1000 }`;
    const text = pipelineText('resume', llm).replace('training: { epochs: 6, batchSize: 32 }', 'training: { epochs: 2 }');
    const store = tmp('resume');
    const workers = await startWorkers({ address: server.address, tags: ALL_TAGS, workflows: true, storeRoot: store, queuePrefix: 'resume' });
    inProcess.push(workers);
    const { handle } = await startPipelineRun(client.connection, expandPlan(parsePipeline(text), text, 'resume'), text, { queuePrefix: 'resume', workflowId: 'resume-1' });
    await assert.rejects(handle.result(), /Workflow execution failed/);

    const memoFiles = () => readdirSync(join(store, 'steps')).map((f) => [f, statSync(join(store, 'steps', f)).mtimeMs] as const);
    const before = new Map(memoFiles());
    const plan = await planResume(client, 'resume-1');
    assert.deepEqual(plan.skipped.map((s) => s.kind).slice(0, 3), ['prepareCorpus', 'trainBaseModel', 'evaluateTask']);
    // The simulate step failed in a fan-out of the first layer's child workflow: that layer runs again.
    assert.ok(plan.rerun.some((s) => s.kind === 'legibleLayer' && s.state === 'failed' && /503/.test(s.failure ?? '')), JSON.stringify(plan.rerun));

    healthy = true;
    const runId = await resumeRun(client, plan);
    const report = await client.workflow.getHandle<typeof legiblePipeline>('resume-1', runId).result();
    assert.ok(report.usage.calls > 0);

    // From the history: the kept steps are the new run's first steps, done, and none of them was scheduled again
    // (steps are told apart by their summary and how often it came before, as the workflow is deterministic).
    const steps = stepsOf((await client.workflow.getHandle('resume-1', runId).fetchHistory()).events ?? []);
    const keyed = (list: typeof steps) => {
      const seen = new Map<string, number>();
      return list.map((s) => {
        const n = (seen.get(s.summary) ?? 0) + 1;
        seen.set(s.summary, n);
        return { ...s, key: `${s.summary}#${n}` };
      });
    };
    const all = keyed(steps);
    const kept = all.filter((s) => s.scheduledEventId < plan.resetEventId);
    assert.deepEqual(kept.map((s) => s.scheduledEventId), plan.skipped.map((s) => s.scheduledEventId));
    assert.ok(kept.every((s) => s.state === 'completed'));
    const keptKeys = new Set(kept.map((s) => s.key));
    for (const s of all.filter((s) => s.scheduledEventId > plan.resetEventId)) assert.ok(!keptKeys.has(s.key), `${s.key} ran again`);
    // From the artifact cache: the kept steps' stored results were not written again.
    for (const [file, mtime] of memoFiles()) if (before.has(file)) assert.equal(mtime, before.get(file), `${file} was rewritten`);
    assert.ok(memoFiles().some(([f]) => f.startsWith('trainBaseModel')));
    assert.equal(memoFiles().filter(([f]) => f.startsWith('trainBaseModel')).length, 1);

    const runs = await listRuns(client, { pipeline: 'resume' });
    assert.equal(runs[0]?.workflowId, 'resume-1');
  });
});
