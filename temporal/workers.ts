// Temporal workers for Legible: one worker per resource tag, polling that tag's task queue with the tag's
// concurrency (one training step at a time per GPU; several LLM calls at once), plus the worker that runs the
// pipeline workflows. `worker.ts` starts them as a long-running process; `legible run` starts them in-process and,
// to put every core to work (tfjs runs one thread per process), more worker processes beside it.
import { fork, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type Activities } from '../activities';
import { DEFAULT_QUEUE_PREFIX, taskQueueFor } from '../pipelines/plan';
import type { ResourceTag } from '../pipelines/schema';
import { openCheckedStore, openStore } from '../store/open';
import { buildId, buildIdOf, CODE_ENTRIES } from './build-id';
import { dataConverterFor } from './payload-codec';

export const ALL_TAGS: ResourceTag[] = ['gpu', 'llm', 'cpu'];

/** Activities that may run at once on one worker of each tag. */
export const DEFAULT_CONCURRENCY: Record<ResourceTag, number> = { gpu: 1, llm: 4, cpu: 2 };

export function workflowTaskQueue(prefix = DEFAULT_QUEUE_PREFIX): string {
  return `${prefix}-workflows`;
}

/**
 * The task queues of a store and a code version: `legible-<store id>-<build id>-<tag>` and `…-workflows` (see
 * ArtifactStore.id and build-id.ts). Workers of another store, or of other code, never take a run's work.
 */
export async function storeQueuePrefix(storeRoot: string, build = buildId()): Promise<string> {
  return `${DEFAULT_QUEUE_PREFIX}-${await openStore(storeRoot).id()}-${build}`;
}

/** Whose a run is, from its workflow task queue: the queues' prefix, and the store and build it names where it does. */
export interface QueueOwner {
  prefix: string;
  store?: string;
  build?: string;
}

/**
 * The owner of a run on `workflowQueue` (see workflowTaskQueue); undefined for a queue that Legible did not name. Runs
 * started before stores had identities are on `legible-workflows`; before build ids, on `legible-<store id>-workflows`.
 */
export function queueOwner(workflowQueue: string): QueueOwner | undefined {
  const m = new RegExp(`^(${DEFAULT_QUEUE_PREFIX}(?:-([0-9a-f]{16})(?:-([0-9a-f]{12}))?)?)-workflows$`).exec(workflowQueue);
  if (!m) return undefined;
  return { prefix: m[1]!, ...(m[2] ? { store: m[2] } : {}), ...(m[3] ? { build: m[3] } : {}) };
}

export interface WorkerOptions {
  address: string;
  namespace?: string;
  tags: ResourceTag[];
  /** Also run the pipeline workflows (true unless this process only serves activities). */
  workflows: boolean;
  storeRoot: string;
  /** Default: the store's and this code's own (storeQueuePrefix), so that workers of different stores or code never share work. */
  queuePrefix?: string;
  concurrency?: Partial<Record<ResourceTag, number>>;
  /** Queue-wide limit on activities started per second, per tag (Temporal's maxTaskQueueActivitiesPerSecond). */
  activitiesPerSecond?: Partial<Record<ResourceTag, number>>;
  /** A prebuilt workflow bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Activities to serve instead of the store's own (tests inject faults with it). */
  activities?: Activities;
  /** The workflow code's entry module (default workflows/index.ts): its build id names the queues (tests run other code). */
  workflowsPath?: string;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped; rejects if one fails. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export function bundleWorkflows(workflowsPath = require.resolve('../workflows')): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
}

export async function startWorkers(o: WorkerOptions): Promise<RunningWorkers> {
  // The build id of the code these workers run: the queues carry it, and their identity shows it.
  const build = o.workflowsPath ? buildIdOf([o.workflowsPath, ...CODE_ENTRIES.slice(1)]) : buildId();
  // Bad store settings (LEGIBLE_STORE, AWS_*) fail here, before any worker polls.
  const store = await openCheckedStore(o.storeRoot);
  const prefix = o.queuePrefix ?? (await storeQueuePrefix(o.storeRoot, build));
  const connection = await NativeConnection.connect({ address: o.address });
  const namespace = o.namespace ?? 'default';
  const activities = o.activities ?? createActivities(store);
  // Which code answered each task, for whoever audits the run's history.
  const identity = `legible@${build} ${process.pid}@${hostname()}`;
  // Large payloads go to (and come from) the store: see payload-codec.ts.
  const dataConverter = dataConverterFor(o.storeRoot);
  const workers: Worker[] = [];
  for (const tag of o.tags) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: taskQueueFor(tag, prefix),
        identity,
        dataConverter,
        activities,
        // Progress (epoch, step, loss) reaches `legible status` and the UI within seconds, not minutes.
        maxHeartbeatThrottleInterval: '2s',
        defaultHeartbeatThrottleInterval: '2s',
        maxConcurrentActivityTaskExecutions: o.concurrency?.[tag] ?? DEFAULT_CONCURRENCY[tag],
        ...(o.activitiesPerSecond?.[tag] ? { maxTaskQueueActivitiesPerSecond: o.activitiesPerSecond[tag] } : {}),
      }),
    );
  }
  if (o.workflows) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: workflowTaskQueue(prefix),
        identity,
        dataConverter,
        ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowBundle: await bundleWorkflows(o.workflowsPath) }),
      }),
    );
  }
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  return {
    workers,
    done: done.finally(() => connection.close()),
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
    },
  };
}

export interface WorkerProcesses {
  processes: ChildProcess[];
  /** Stops every process (SIGTERM: each finishes or hands back its activities) and waits for them to exit. */
  shutdown(): Promise<void>;
}

/**
 * Starts `count` more worker processes (worker.ts, no workflows) on the same server and artifact store, serving
 * `tags`, and resolves once every one polls. A process that dies later costs nothing but its core: Temporal gives its
 * activities to the other workers after their heartbeat or start-to-close timeout. Each process also stops when
 * this one goes (it watches the IPC channel).
 */
export async function startWorkerProcesses(count: number, o: { address: string; storeRoot: string; queuePrefix?: string; tags: ResourceTag[]; concurrency?: Partial<Record<ResourceTag, number>> }): Promise<WorkerProcesses> {
  const args = ['--tags', o.tags.join(','), '--no-workflows', ...(o.queuePrefix ? ['--queue-prefix', o.queuePrefix] : []), ...Object.entries(o.concurrency ?? {}).flatMap(([tag, n]) => [`--${tag}-concurrency`, String(n)])];
  const processes = Array.from({ length: count }, () =>
    fork(join(__dirname, '..', 'worker.ts'), args, {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, TEMPORAL_ADDRESS: o.address, LEGIBLE_HOME: o.storeRoot },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const exited = processes.map((p) => new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : p.once('exit', () => resolve()))));
  const shutdown = async () => {
    for (const p of processes) if (p.exitCode === null) p.kill('SIGTERM');
    await Promise.all(exited);
  };
  try {
    await Promise.all(
      processes.map(
        (p, i) =>
          new Promise<void>((resolve, reject) => {
            p.once('message', () => resolve());
            p.once('exit', (code) => reject(new Error(`worker process ${i + 1} of ${count} exited (code ${code}) before it polled`)));
          }),
      ),
    );
  } catch (err) {
    await shutdown();
    throw err;
  }
  return { processes, shutdown };
}

/**
 * Installs the Temporal runtime with a logger that keeps warnings and errors, less the expected notices that a
 * worker has no workflows or no activities (Legible's workers each serve one of the two on purpose), and, where
 * `failures` is false (a `legible` command, which reports a run's failure itself), the SDK's "Activity failed" and
 * "Workflow failed" warnings.
 */
export function installQuietRuntime(o: { failures: boolean } = { failures: true }): void {
  Runtime.install({
    // Legible's commands and worker.ts handle SIGINT and SIGTERM themselves (the SDK's hooks would swallow the first).
    shutdownSignals: [],
    logger: new DefaultLogger('WARN', (entry) => {
      if (/^No (workflows|activities) registered/.test(entry.message)) return;
      if (!o.failures && /^(Activity|Workflow) failed$/.test(entry.message)) return;
      console.error(`[${entry.level}] ${entry.message}`, entry.meta ?? '');
    }),
  });
}

/** The workflow bundler logs every module at info level; keep its warnings and errors only. */
const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: object) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: object) => console.error(message, meta ?? ''),
};
