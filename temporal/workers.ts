// Temporal workers for Legible: one worker per resource tag, polling that tag's task queue with the tag's
// concurrency (one training step at a time per GPU; several LLM calls at once), plus the worker that runs the
// pipeline workflows. `worker.ts` starts them as a long-running process; `legible run` starts them in-process.
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities';
import { DEFAULT_QUEUE_PREFIX, taskQueueFor } from '../pipelines/plan';
import type { ResourceTag } from '../pipelines/schema';
import { ArtifactStore } from '../store/artifacts';

export const ALL_TAGS: ResourceTag[] = ['gpu', 'llm', 'cpu'];

/** Activities that may run at once on one worker of each tag. */
export const DEFAULT_CONCURRENCY: Record<ResourceTag, number> = { gpu: 1, llm: 4, cpu: 2 };

export function workflowTaskQueue(prefix = DEFAULT_QUEUE_PREFIX): string {
  return `${prefix}-workflows`;
}

export interface WorkerOptions {
  address: string;
  namespace?: string;
  tags: ResourceTag[];
  /** Also run the pipeline workflows (true unless this process only serves activities). */
  workflows: boolean;
  storeRoot: string;
  queuePrefix?: string;
  concurrency?: Partial<Record<ResourceTag, number>>;
  /** Queue-wide limit on activities started per second, per tag (Temporal's maxTaskQueueActivitiesPerSecond). */
  activitiesPerSecond?: Partial<Record<ResourceTag, number>>;
  /** A prebuilt workflow bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped; rejects if one fails. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
}

export async function startWorkers(o: WorkerOptions): Promise<RunningWorkers> {
  const connection = await NativeConnection.connect({ address: o.address });
  const namespace = o.namespace ?? 'default';
  const activities = createActivities(new ArtifactStore(o.storeRoot));
  const workers: Worker[] = [];
  for (const tag of o.tags) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: taskQueueFor(tag, o.queuePrefix),
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
        taskQueue: workflowTaskQueue(o.queuePrefix),
        ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowBundle: await bundleWorkflows() }),
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

/**
 * Installs the Temporal runtime with a logger that keeps warnings and errors, less the expected notices that a
 * worker has no workflows or no activities (Legible's workers each serve one of the two on purpose).
 */
export function installQuietRuntime(): void {
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      if (/^No (workflows|activities) registered/.test(entry.message)) return;
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
