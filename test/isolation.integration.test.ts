// Sharing one Temporal server. Two stores at once: each store's workers poll only that store's task queues (named
// after the store's identity), so both runs finish and each store holds only its own run's artifacts. Two code
// versions in one store: the queues carry the build id of the code too, so a worker of other code never takes over a
// run; the run waits, and `legible status` says for which build, until a worker of its own code comes back.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { currentReport } from '../report/text';
import type { ArtifactRef } from '../store/artifacts';
import { directoryStore } from '../store/open';
import { startPipelineRun } from '../temporal/client';
import { localEnvironment } from './helpers/dev-server';
import { ALL_TAGS, bundleWorkflows, installQuietRuntime, startWorkers, storeQueuePrefix, type RunningWorkers } from '../temporal/workers';
import { buildId, buildIdOf } from '../temporal/build-id';
import { legibleClient } from '../temporal/client';
import { stepsOf } from '../temporal/runs';
import { execFileSync } from 'node:child_process';

const pipeline = (seed: number) => `
name: isolation
seed: ${seed}
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 8 }] }
training: { epochs: 1 }
interpretability: { explanationSequences: 300, scoringSequences: 100 }
alignment: { sequences: 300, epochs: 1 }
`;

describe('two stores on one server', () => {
  let env: TestWorkflowEnvironment;
  const workers: RunningWorkers[] = [];

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
  });

  after(async () => {
    for (const w of workers) await w.shutdown();
    await env?.teardown();
  });

  it('a store has one identity, made once and kept', async () => {
    const root = mkdtempSync(join(tmpdir(), 'legible-id-'));
    const id = await directoryStore(root).id();
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(await directoryStore(root).id(), id);
    assert.notEqual(await directoryStore(mkdtempSync(join(tmpdir(), 'legible-id-'))).id(), id);
  });

  it('runs both at once; each store\'s workers take only its own run\'s work', async () => {
    const stores = [mkdtempSync(join(tmpdir(), 'legible-store-a-')), mkdtempSync(join(tmpdir(), 'legible-store-b-'))];
    const workflowBundle = await bundleWorkflows();
    // Default queue prefix: the store's own.
    for (const storeRoot of stores) workers.push(await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot, workflowBundle }));
    const prefixes = await Promise.all(stores.map((s) => storeQueuePrefix(s)));
    assert.notEqual(prefixes[0], prefixes[1]);
    const runs = await Promise.all(
      stores.map(async (_, i) => {
        const text = pipeline(11 + i);
        const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text), text, prefixes[i]), text, { queuePrefix: prefixes[i], workflowId: `isolation-${i}` });
        const report = currentReport(await handle.result());
        const queues = new Set(((await handle.fetchHistory()).events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue!.name!] : [])));
        return { report, queues };
      }),
    );
    const holds = (store: string, ref: ArtifactRef) => existsSync(join(store, 'artifacts', ref.sha256.slice(0, 2), ref.sha256));
    runs.forEach(({ report, queues }, i) => {
      assert.ok([...queues].every((q) => q.startsWith(`${prefixes[i]}-`)), `run ${i} scheduled on ${[...queues].join(', ')}`);
      for (const ref of [report.corpus.ref, report.finalModel, report.layers[0]!.recordsAfter]) {
        assert.ok(holds(stores[i]!, ref), `store ${i} holds its run's ${ref.kind}`);
        assert.ok(!holds(stores[1 - i]!, ref), `store ${1 - i} does not hold run ${i}'s ${ref.kind}`);
      }
    });
  });

  it('a worker of other code never takes over a run: the run waits for its own build, and finishes on it', async () => {
    const store = mkdtempSync(join(tmpdir(), 'legible-build-'));
    const otherCode = join(__dirname, 'fixtures', 'other-workflows.ts');
    const otherBuild = buildIdOf([otherCode, 'activities/index.ts']);
    assert.notEqual(otherBuild, buildId());
    // The other code's workers poll the same store all along.
    const other = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store, workflowsPath: otherCode });
    workers.push(other);
    const text = pipeline(21);
    const prefix = await storeQueuePrefix(store);
    const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(text), text, prefix), text, { queuePrefix: prefix, workflowId: 'takeover', storeRoot: store });
    // No worker of this build yet: nothing happens, and status says which build the run waits for.
    await new Promise((r) => setTimeout(r, 3000));
    const waiting = (await handle.fetchHistory()).events ?? [];
    assert.ok(!waiting.some((e) => e.workflowTaskCompletedEventAttributes), 'no worker took the run');
    const status = execFileSync(process.execPath, [join(__dirname, '..', 'bin', 'legible.js'), 'status', 'takeover'], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, LEGIBLE_HOME: store }, encoding: 'utf8' });
    assert.match(status, new RegExp(`waiting: no worker of build ${buildId()} has polled ${prefix}-workflows`));

    // A worker of this build starts the run, then stops part-way; the other code's workers are still there.
    const own = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store });
    for (let i = 0; stepsOf((await handle.fetchHistory()).events ?? []).filter((s) => s.state === 'completed').length < 3; i++) {
      assert.ok(i < 600, 'the run did not get going');
      await new Promise((r) => setTimeout(r, 100));
    }
    await own.shutdown();
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    // A worker of this build again: the run finishes, and every workflow task of it was answered by this build.
    workers.push(await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store }));
    currentReport(await handle.result());
    const answered = ((await legibleClient(env.connection, store).workflow.getHandle('takeover').fetchHistory()).events ?? []).flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.identity ?? ''] : []));
    assert.ok(answered.length > 0 && answered.every((id) => id.startsWith(`legible@${buildId()} `)), answered.join(', '));
    assert.ok(!((await handle.fetchHistory()).events ?? []).some((e) => e.workflowTaskFailedEventAttributes), 'no workflow task failed');
  });
});
