// Several machines: workers on separate hosts (network namespaces, each with its own empty LEGIBLE_HOME) share only a
// Temporal server and an S3 server (Versity's gateway) in the root namespace. One host runs the `gpu` tag, another the
// `llm` and `cpu` tags and the workflows. The demo pipeline runs across them, its `gpu` worker killed mid-training and
// replaced by one on a third host that goes on from the checkpoint in S3, and ends with the very weights of the demo
// run on one machine with a local store. Run by `npm run test:hosts` (as root; skipped where namespaces cannot be made).
import { Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePipeline } from '../../pipelines/load';
import { expandPlan } from '../../pipelines/plan';
import { writeReport } from '../../report/html';
import { currentReport } from '../../report/text';
import { openStore } from '../../store/open';
import { startS3Server, type S3Server } from '../../store/s3-server';
import { legibleClient, startPipelineRun } from '../../temporal/client';
import { stepsOf } from '../../temporal/runs';
import { freePort, startDevServer } from '../../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix, type RunningWorkers } from '../../temporal/workers';
import type { PipelineReport } from '../../workflows/pipeline';
import { hostsUnavailable, makeHosts, type Hosts } from '../helpers/hosts';

const ROOT = join(__dirname, '..', '..');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `legible-${name}-`));
// The demo, with a short heartbeat timeout on training so that the killed worker's step is given to another soon.
const DEMO = `${readFileSync(join(ROOT, 'pipelines', 'demo.yaml'), 'utf8')}\nsteps:\n  trainBaseModel: { heartbeatTimeout: 10s }\n`;
const BUCKET = 'legible';

const why = hostsUnavailable();

describe('several machines over S3', { skip: why ? `separate hosts cannot be simulated here: ${why}` : false }, () => {
  let hosts: Hosts;
  let s3: S3Server;
  let temporal: { child: ChildProcess; connection: Connection };
  let address: string;
  const workers: RunningWorkers[] = [];
  const logs = new Map<string, string>();

  before(async () => {
    installQuietRuntime();
    hosts = makeHosts(['gpu', 'llmcpu', 'gpu2']);
    // On every interface: a dev server bound to the gateway alone fails to start workflows (its services dial each
    // other on 127.0.0.1).
    const port = await freePort('0.0.0.0');
    temporal = await startDevServer({ host: '0.0.0.0', port, dbFile: join(tmp('hosts-db'), 'temporal.sqlite'), ui: false });
    address = `${hosts.gateway}:${port}`;
    s3 = await startS3Server({ dir: tmp('hosts-s3'), addresses: [`${hosts.gateway}:${await freePort(hosts.gateway)}`], buckets: [BUCKET] });
  });

  after(async () => {
    for (const w of workers) await w.shutdown();
    await temporal?.connection.close();
    if (temporal && temporal.child.exitCode === null) {
      const exited = new Promise((r) => temporal.child.once('exit', r));
      temporal.child.kill('SIGTERM');
      await exited;
    }
    await s3?.stop();
    hosts?.cleanup();
  });

  /** A worker process on `host`, with an empty LEGIBLE_HOME of its own and the S3 store; its output kept for failures. */
  function worker(host: string, args: string[], s3env: NodeJS.ProcessEnv): { child: ChildProcess; home: string } {
    const home = tmp(`host-${host}`);
    const child = hosts.spawn(host, process.execPath, ['--import', 'tsx', join(ROOT, 'worker.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...s3env, TEMPORAL_ADDRESS: address, LEGIBLE_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const name = `${host} (pid ${child.pid})`;
    logs.set(name, '');
    const keep = (b: Buffer) => logs.set(name, (logs.get(name)! + b.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return { child, home };
  }

  it('runs the demo across hosts, survives losing the gpu host mid-training, and ends with the one-machine weights', async () => {
    // One machine: every tag and the workflows in this process, a local store.
    const local = tmp('one-machine');
    workers.push(await startWorkers({ address, tags: ALL_TAGS, workflows: true, storeRoot: local, queuePrefix: 'one-machine' }));
    const connection = await Connection.connect({ address });
    const oneMachine = await startPipelineRun(connection, expandPlan(parsePipeline(DEMO), DEMO, 'one-machine'), DEMO, { queuePrefix: 'one-machine', workflowId: 'demo-one-machine', storeRoot: local });

    // Several machines: the S3 store, named by the environment of every process that uses it (this one starts the run
    // and reads its result, whose large payloads are in the store too).
    const s3env = { LEGIBLE_STORE: `s3://${BUCKET}/demo`, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
    Object.assign(process.env, s3env);
    const here = tmp('client');
    const prefix = await storeQueuePrefix(here);
    const gpu = worker('gpu', ['--tags', 'gpu', '--no-workflows'], s3env);
    const rest = worker('llmcpu', ['--tags', 'llm,cpu'], s3env);
    const { handle } = await startPipelineRun(connection, expandPlan(parsePipeline(DEMO), DEMO, prefix), DEMO, { queuePrefix: prefix, workflowId: 'demo-hosts', storeRoot: here });

    // Kill the gpu host's worker once training has stored a checkpoint and named it in a heartbeat; a gpu worker on
    // a third host, with an empty LEGIBLE_HOME, takes the step over.
    for (let i = 0; ; i++) {
      assert.ok(i < 3000, `no training checkpoint was heartbeated; worker output:\n${[...logs].map(([k, v]) => `${k}:\n${v}`).join('\n')}`);
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const details = pending.find((a) => a.activityType?.name === 'trainBaseModel')?.heartbeatDetails?.payloads?.[0]?.data;
      if (details && Buffer.from(details).toString().includes('checkpoint')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    gpu.child.kill('SIGKILL');
    const gpu2 = worker('gpu2', ['--tags', 'gpu', '--no-workflows'], s3env);

    const client = legibleClient(connection, here);
    const [several, one] = await Promise.all([
      client.workflow.getHandle('demo-hosts').result() as Promise<PipelineReport>,
      oneMachine.handle.result() as Promise<PipelineReport>,
    ]).catch((err: Error) => {
      throw new Error(`${err.message}; worker output:\n${[...logs].map(([k, v]) => `${k}:\n${v}`).join('\n')}`);
    });

    // The step went on from its checkpoint, on the third host.
    const events = (await handle.fetchHistory()).events ?? [];
    const training = stepsOf(events).find((s) => s.kind === 'trainBaseModel')!;
    assert.ok(training.attempt >= 2, `attempt ${training.attempt}`);
    const done = events.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === training.scheduledEventId)!;
    assert.match(done.activityTaskCompletedEventAttributes!.identity!, new RegExp(` ${gpu2.child.pid}@`), 'completed by the gpu2 host\'s worker');
    const result = JSON.parse(Buffer.from(done.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString()) as { resumedFrom: { epoch: number } | null };
    assert.ok(result.resumedFrom && result.resumedFrom.epoch >= 1, `resumed from ${JSON.stringify(result.resumedFrom)}`);

    // What crossed the network: the gpu2 host fetched the checkpoint from S3 into its cache; no host kept a store of
    // its own (artifacts live in the bucket, a host keeps only its cache).
    const cached = (home: string) => (existsSync(join(home, 's3-cache')) ? readdirSync(join(home, 's3-cache'), { recursive: true, encoding: 'utf8' }) : []);
    assert.ok(cached(gpu2.home).some((f) => f.includes('artifacts/')), 'the gpu2 host read artifacts from S3');
    for (const home of [gpu.home, rest.home, gpu2.home]) assert.ok(!existsSync(join(home, 'artifacts')) && !existsSync(join(home, 'steps')), `${home} holds no store`);

    // The same weights, bit for bit, as the demo on one machine.
    const [a, b] = [currentReport(several, 'demo-hosts'), currentReport(one, 'demo-one-machine')];
    assert.equal(a.finalModel.sha256, b.finalModel.sha256, 'final weights hash');
    assert.deepEqual(a.layers.map((l) => l.legibleUnits), b.layers.map((l) => l.legibleUnits));

    // The report is written from the bucket, on a machine that computed none of it.
    const report = await writeReport(tmp('hosts-report'), 'demo-hosts', several, openStore(tmp('reader')));
    assert.match(readFileSync(report.html, 'utf8'), /Layer h2/);
    await connection.close();
  });
});
