// Everyday commands against a real dev server: Ctrl-C on `legible run` (a message, an exit within 10 s, and a run
// that `legible status` describes without workers and `legible resume` finishes), and a sweep in which one point
// fails (its sibling finishes, the sweep names the failure, and `legible resume` runs only that point again).
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createActivities } from '../activities';
import { parsePipeline } from '../pipelines/load';
import { expandSweep } from '../pipelines/plan';
import { directoryStore } from '../store/open';
import { legibleClient, startSweepRun } from '../temporal/client';
import { localEnvironment } from './helpers/dev-server';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix } from '../temporal/workers';

const LEGIBLE = join(__dirname, '..', 'bin', 'legible.js');

const pipeline = (name: string, extra = '') => `
name: ${name}
seed: 4
corpus: { sentences: 1500 }
model: { vocabularySize: 400, hidden: [{ name: h1, width: 8 }] }
training: { epochs: 4 }
interpretability: { explanationSequences: 300, scoringSequences: 100 }
alignment: { sequences: 300, epochs: 1 }
${extra}`;

describe('everyday commands', () => {
  let env: TestWorkflowEnvironment;

  before(async () => {
    installQuietRuntime();
    env = await localEnvironment();
  });

  after(async () => {
    await env?.teardown();
  });

  const cli = (store: string, ...args: string[]) => spawnSync(process.execPath, [LEGIBLE, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: env.address, LEGIBLE_HOME: store }, timeout: 300_000 });

  it('Ctrl-C stops `legible run` within 10 s and says how to go on; status needs no worker; resume finishes the run', async () => {
    const store = mkdtempSync(join(tmpdir(), 'legible-sigint-'));
    const file = join(store, 'p.yaml');
    writeFileSync(file, pipeline('sigint').replace('epochs: 4', 'epochs: 30'));
    const child = spawn(process.execPath, [LEGIBLE, 'run', '--processes', '1', file], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, LEGIBLE_HOME: store } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Stopped while the base model trains (30 epochs: longer than the wait).
    for (let i = 0; !/trainBaseModel/.test(stdout); i++) {
      assert.ok(i < 1200, `training never started:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(child.exitCode, null, `the run ended before the signal:\n${stdout}`);
    const workflowId = /Started (\S+)/.exec(stdout)![1]!;
    const sent = performance.now();
    child.kill('SIGINT');
    const code = await exited;
    const seconds = (performance.now() - sent) / 1000;
    assert.equal(code, 130);
    assert.ok(seconds < 10, `exited ${seconds.toFixed(1)} s after SIGINT`);
    assert.match(stderr, new RegExp(`SIGINT: stopping this command's workers\\. The run ${workflowId} goes on on the Temporal server`));
    assert.match(stderr, new RegExp(`legible resume ${workflowId}`));

    // No worker serves the run now: status reads the server alone, at once.
    const started = performance.now();
    const status = cli(store, 'status', workflowId);
    assert.equal(status.status, 0, status.stderr);
    assert.ok(performance.now() - started < 20_000, 'status waited for a worker');
    assert.match(status.stdout, new RegExp(`${workflowId}: RUNNING`));
    assert.match(status.stdout, /completed\s+prepareCorpus/);
    assert.match(status.stdout, /now: \[model\]/);

    const resumed = cli(store, 'resume', '--processes', '1', workflowId);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`${workflowId} is running.*: starting workers for it here`));
    assert.match(resumed.stdout, new RegExp(`workflow ${workflowId} finished`));
  });

  it('a failing sweep point fails alone; resume runs only it again and completes the report', async () => {
    const store = mkdtempSync(join(tmpdir(), 'legible-sweep-fail-'));
    const text = pipeline('sweepfail', 'sweep: { seed: [4, 5] }\n').replace('epochs: 4', 'epochs: 1');
    const prefix = await storeQueuePrefix(store);
    // Workers whose base-model training fails for good on seed 5: one point fails, the other must finish.
    const real = createActivities(directoryStore(store));
    const activities = {
      ...real,
      trainBaseModel: async (input: Parameters<typeof real.trainBaseModel>[0]) => {
        if (input.pipeline.seed === 5) throw ApplicationFailure.nonRetryable('injected failure for seed 5');
        return real.trainBaseModel(input);
      },
    };
    const workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot: store, activities });
    const { handle } = await startSweepRun(env.connection, expandSweep(parsePipeline(text), text, prefix), text, { queuePrefix: prefix, workflowId: 'sweep-fail', storeRoot: store });
    const first = await handle.result();
    await workers.shutdown();
    assert.deepEqual(first.points.map((p) => p.settings.seed), [4]);
    assert.deepEqual(first.failed?.map((f) => [f.settings.seed, f.failure]), [[5, 'injected failure for seed 5']]);
    assert.match(cli(store, 'status', 'sweep-fail').stdout, /failed\s+legiblePipeline \(sweep point 1: \{"seed":5\}\): injected failure for seed 5/);

    const resumed = cli(store, 'resume', '--processes', '1', 'sweep-fail');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /Resuming sweep sweep-fail: 1 finished points are kept, 1 run again/);
    const json = JSON.parse(cli(store, 'report', 'sweep-fail', '--format', 'json').stdout) as { points: { settings: { seed: number }; workflowId: string }[]; failed: unknown[] };
    assert.deepEqual(json.points.map((p) => p.settings.seed), [4, 5]);
    assert.deepEqual(json.failed, []);
    // The finished point was kept, not run again: the resumed sweep started one child workflow.
    const history = (await legibleClient(env.connection, store).workflow.getHandle('sweep-fail').fetchHistory()).events ?? [];
    assert.deepEqual(history.flatMap((e) => (e.startChildWorkflowExecutionInitiatedEventAttributes ? [e.startChildWorkflowExecutionInitiatedEventAttributes.workflowId] : [])), ['sweep-fail-point-1']);
    const runs = cli(store, 'runs').stdout;
    assert.match(runs, /sweep-fail-point-0 .*seed 4/);
    assert.equal(runs.split('\n').filter((l) => l.startsWith('sweep-fail ')).length, 1, 'one line per workflow id');
    // Newest first: the resumed sweep before its points, and before the earlier test's run (another store's).
    const order = ['sweep-fail ', 'sweep-fail-point-0', 'sigint-'].map((id) => runs.split('\n').findIndex((l) => l.startsWith(id)));
    assert.ok(order.every((i) => i > 0) && order[0]! < order[1]! && order[1]! < order[2]!, runs);
  });
});
