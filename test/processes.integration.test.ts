// Worker processes beside the first one, as `legible run` starts them to use every core: they serve every activity
// of a sweep (the first process runs only the workflows here), the two points train side by side in different
// processes, the base model they share is computed once (the other point waits for it), and shutdown stops them.
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../pipelines/load';
import { expandSweep } from '../pipelines/plan';
import { startSweepRun } from '../temporal/client';
import { ALL_TAGS, installQuietRuntime, startWorkerProcesses, startWorkers, storeQueuePrefix, type RunningWorkers, type WorkerProcesses } from '../temporal/workers';
import { freePort } from '../temporal/server';
import { startDevServer, type DevServer } from './helpers/dev-server';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `legible-${name}-`));

const SWEEP = `
name: processes
seed: 4
corpus: { sentences: 3000 }
model:
  vocabularySize: 500
  hidden: [{ name: h1, width: 16 }]
training: { epochs: 4, batchSize: 32 }
interpretability: { explanationSequences: 600, scoringSequences: 200 }
alignment: { sequences: 600, epochs: 2 }
sweep:
  legibleFraction: [0.25, 0.75]
`;

describe('worker processes', () => {
  let server: DevServer;
  let client: Client;
  let workflows: RunningWorkers | undefined;
  let beside: WorkerProcesses | undefined;

  before(async () => {
    installQuietRuntime();
    server = await startDevServer(join(tmp('db'), 'temporal.sqlite'), await freePort());
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  });

  after(async () => {
    await beside?.shutdown();
    await workflows?.shutdown();
    await client?.connection.close();
    await server?.stop();
  });

  it('run every activity of a sweep, training its points side by side and the shared base model once', async () => {
    const store = tmp('store');
    workflows = await startWorkers({ address: server.address, tags: [], workflows: true, storeRoot: store });
    beside = await startWorkerProcesses(2, { address: server.address, storeRoot: store, tags: ALL_TAGS });
    // A worker's identity: legible@<build id> <pid>@<host>.
    const identities = beside.processes.map((p) => `${p.pid}@`);
    const pidOf = (identity: string) => identity.split(' ').at(-1)!;

    const queuePrefix = await storeQueuePrefix(store);
    const { handle } = await startSweepRun(client.connection, expandSweep(parsePipeline(SWEEP), SWEEP, queuePrefix), SWEEP, { queuePrefix, workflowId: 'processes-sweep' });
    const report = await handle.result();
    assert.equal(report.points.length, 2);

    const training: { identity: string; reused: boolean }[] = [];
    for (const point of report.points) {
      const events = (await client.workflow.getHandle(point.workflowId).fetchHistory()).events ?? [];
      const kinds = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!]));
      for (const e of events) {
        const started = e.activityTaskStartedEventAttributes;
        if (started) assert.ok(identities.some((id) => pidOf(started.identity!).startsWith(id)), `${started.identity} is not one of the worker processes (${identities.join(', ')})`);
        const done = e.activityTaskCompletedEventAttributes;
        if (done && kinds.get(Number(done.scheduledEventId)) === 'trainBaseModel') {
          const startedBy = events.find((s) => Number(s.eventId) === Number(done.startedEventId))!.activityTaskStartedEventAttributes!.identity!;
          const result = JSON.parse(Buffer.from(done.result!.payloads![0]!.data!).toString()) as { reused: boolean };
          training.push({ identity: startedBy, reused: result.reused });
        }
      }
    }
    assert.equal(training.length, 2);
    assert.notEqual(training[0]!.identity, training[1]!.identity, 'both points trained their base model in the same process');
    assert.deepEqual(training.map((t) => t.reused).sort(), [false, true], 'the shared base model was trained twice');

    await beside.shutdown();
    assert.ok(beside.processes.every((p) => p.exitCode !== null || p.signalCode !== null), 'a worker process outlived shutdown');
  });
});
