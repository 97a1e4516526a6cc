// Run history, read through Temporal: the list of runs (visibility, by search attribute), one run's steps with
// their state and latest heartbeat, and resuming a failed or terminated run from its failed step by resetting the
// workflow to the task that scheduled that step: the steps before it stay done, the rest run again (and reuse the
// artifact store's results where their inputs are unchanged).
import type { Client } from '@temporalio/client';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import Long from 'long';
import { randomUUID } from 'node:crypto';
import { taskQueueFor } from '../pipelines/plan';
import type { ResourceTag } from '../pipelines/schema';
import { PIPELINE_ATTRIBUTE } from './search-attributes';

const enums = temporal.api.enums.v1;

export interface RunRow {
  workflowId: string;
  runId: string;
  pipeline: string;
  status: string;
  start: Date;
  durationSeconds?: number;
  /** A sweep point's settings (its memo). */
  settings?: Record<string, unknown>;
  /** Its workflow task queue, which names its store and build. */
  taskQueue: string;
}

/**
 * Legible runs on the server (of one pipeline, if named), newest first, one row per workflow id: a resumed run's
 * latest run. At most `limit` rows. Read from the raw listing, so that a run whose memo this store cannot decode
 * (another store's, kept in its artifact store) is listed without its sweep settings rather than failing the list.
 */
export async function listRuns(client: Client, o: { pipeline?: string; limit?: number } = {}): Promise<RunRow[]> {
  const query = o.pipeline ? `LegiblePipeline = '${o.pipeline.replace(/'/g, "\\'")}'` : 'LegiblePipeline IS NOT NULL';
  const limit = o.limit ?? 50;
  const latest = new Map<string, RunRow>();
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query, pageSize: 100, ...(nextPageToken ? { nextPageToken } : {}) });
    for (const raw of page.executions ?? []) {
      const row = await runRow(client, raw);
      const seen = latest.get(row.workflowId);
      if (!seen || seen.start < row.start) latest.set(row.workflowId, row);
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken && latest.size < limit * 2);
  return [...latest.values()].sort((a, b) => b.start.getTime() - a.start.getTime()).slice(0, limit);
}

async function runRow(client: Client, raw: temporal.api.workflow.v1.IWorkflowExecutionInfo): Promise<RunRow> {
  const start = optionalTsToMs(raw.startTime) ?? 0;
  const end = optionalTsToMs(raw.closeTime);
  let settings: Record<string, unknown> | undefined;
  try {
    settings = (await decodeMapFromPayloads(client.options.loadedDataConverter, raw.memo?.fields))?.sweepSettings as Record<string, unknown> | undefined;
  } catch {
    settings = undefined; // another store's memo: listed without it
  }
  return {
    workflowId: raw.execution?.workflowId ?? '?',
    runId: raw.execution?.runId ?? '?',
    pipeline: decodeTypedSearchAttributes(raw.searchAttributes?.indexedFields).get(PIPELINE_ATTRIBUTE) ?? '?',
    status: (enums.WorkflowExecutionStatus[raw.status ?? 0] ?? '?').replace('WORKFLOW_EXECUTION_STATUS_', ''),
    start: new Date(start),
    taskQueue: raw.taskQueue ?? '',
    ...(end !== undefined && end > 0 ? { durationSeconds: (end - start) / 1000 } : {}),
    ...(settings ? { settings } : {}),
  };
}

export interface StepRow {
  scheduledEventId: number;
  /** The workflow task that scheduled the step: where a reset goes back to. */
  workflowTaskCompletedEventId: number;
  kind: string;
  /** The step's summary, e.g. "explainNeurons h2". */
  summary: string;
  state: 'scheduled' | 'running' | 'completed' | 'failed' | 'timed out' | 'cancelled';
  attempt: number;
  failure?: string;
  reused?: boolean;
  /** The workflow id of a child workflow (a layer, a fan-out), where the step is one. */
  child?: string;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Every step of a run, in the order they were scheduled, with what became of each. */
export function stepsOf(events: HistoryEvent[]): StepRow[] {
  const steps = new Map<number, StepRow>();
  for (const e of events) {
    const id = Number(e.eventId);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      steps.set(id, {
        scheduledEventId: id,
        workflowTaskCompletedEventId: Number(scheduled.workflowTaskCompletedEventId),
        kind: scheduled.activityType?.name ?? '?',
        summary: payloadText(e.userMetadata?.summary) ?? scheduled.activityType?.name ?? '?',
        state: 'scheduled',
        attempt: 1,
      });
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) Object.assign(steps.get(Number(started.scheduledEventId))!, { state: 'running', attempt: started.attempt ?? 1 });
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const result = payloadText(done.result?.payloads?.[0]);
      Object.assign(steps.get(Number(done.scheduledEventId))!, { state: 'completed', reused: result ? JSON.parse(result).reused === true : undefined });
    }
    const failed = e.activityTaskFailedEventAttributes;
    if (failed) Object.assign(steps.get(Number(failed.scheduledEventId))!, { state: 'failed', failure: failed.failure?.message ?? undefined });
    const timedOut = e.activityTaskTimedOutEventAttributes;
    if (timedOut) Object.assign(steps.get(Number(timedOut.scheduledEventId))!, { state: 'timed out', failure: timedOut.failure?.message ?? undefined });
    const cancelled = e.activityTaskCanceledEventAttributes;
    if (cancelled) Object.assign(steps.get(Number(cancelled.scheduledEventId))!, { state: 'cancelled' });
    const initiated = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (initiated)
      steps.set(id, {
        scheduledEventId: id,
        workflowTaskCompletedEventId: Number(initiated.workflowTaskCompletedEventId),
        kind: initiated.workflowType?.name ?? '?',
        summary: payloadText(e.userMetadata?.summary) ?? initiated.workflowId ?? '?',
        state: 'scheduled',
        attempt: 1,
        child: initiated.workflowId ?? '?',
      });
    const child = (a: { initiatedEventId?: Long | number | null } | null | undefined) => (a ? steps.get(Number(a.initiatedEventId)) : undefined);
    const childStarted = child(e.childWorkflowExecutionStartedEventAttributes);
    if (childStarted) childStarted.state = 'running';
    const childCompleted = child(e.childWorkflowExecutionCompletedEventAttributes);
    if (childCompleted) childCompleted.state = 'completed';
    const childFailed = child(e.childWorkflowExecutionFailedEventAttributes);
    if (childFailed) Object.assign(childFailed, { state: 'failed', failure: rootCause(e.childWorkflowExecutionFailedEventAttributes!.failure) });
    const childTimedOut = child(e.childWorkflowExecutionTimedOutEventAttributes);
    if (childTimedOut) childTimedOut.state = 'timed out';
    const childEnded = child(e.childWorkflowExecutionCanceledEventAttributes) ?? child(e.childWorkflowExecutionTerminatedEventAttributes);
    if (childEnded) childEnded.state = 'cancelled';
  }
  return [...steps.values()];
}

/** The innermost message of a failure's cause chain (a child's failure wraps its step's, which wraps the error). */
function rootCause(failure: temporal.api.failure.v1.IFailure | null | undefined): string | undefined {
  let f = failure;
  for (let depth = 0; f?.cause && depth < 20; depth++) f = f.cause;
  return f?.message ?? undefined;
}

function payloadText(p: temporal.api.common.v1.IPayload | null | undefined): string | undefined {
  if (!p?.data) return undefined;
  const text = typeof p.data === 'string' ? Buffer.from(p.data, 'base64').toString('utf8') : Buffer.from(p.data).toString('utf8');
  try {
    const v = JSON.parse(text);
    return typeof v === 'string' ? v : text;
  } catch {
    return text;
  }
}

export interface ResumePlan {
  workflowId: string;
  runId: string;
  /** The workflow task a reset goes back to: every step it or a later task scheduled runs again. */
  resetEventId: number;
  skipped: StepRow[];
  rerun: StepRow[];
}

export interface WorkflowHistory {
  workflowId: string;
  runId: string;
  events: HistoryEvent[];
}

/**
 * The histories of a workflow and of every child workflow under it (a run's layers and fan-outs), parent first,
 * each run of a workflow that continued as new in turn.
 */
export async function runHistories(client: Client, workflowId: string, runId?: string): Promise<WorkflowHistory[]> {
  const out: WorkflowHistory[] = [];
  for (let run: string | undefined = runId ?? (await client.workflow.getHandle(workflowId).describe()).runId; run; ) {
    const events: HistoryEvent[] = (await client.workflow.getHandle(workflowId, run).fetchHistory()).events ?? [];
    out.push({ workflowId, runId: run, events });
    for (const e of events) {
      const started = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (started?.workflowId && started.runId) out.push(...(await runHistories(client, started.workflowId, started.runId)));
    }
    run = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

/** Which steps a resume keeps and which it runs again: everything from the first step that did not finish. */
export async function planResume(client: Client, workflowId: string): Promise<ResumePlan> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const status = description.status.name;
  if (status === 'RUNNING') throw new Error(`${workflowId} is still running: nothing to resume`);
  if (status === 'COMPLETED') throw new Error(`${workflowId} completed: nothing to resume`);
  const steps = stepsOf((await handle.fetchHistory()).events ?? []);
  const unfinished = steps.filter((s) => s.state !== 'completed');
  if (unfinished.length === 0) throw new Error(`${workflowId} ended ${status} with every step it started finished; start it again with \`legible run\``);
  const resetEventId = Math.min(...unfinished.map((s) => s.workflowTaskCompletedEventId));
  return {
    workflowId,
    runId: description.runId,
    resetEventId,
    skipped: steps.filter((s) => s.state === 'completed' && s.scheduledEventId < resetEventId),
    rerun: steps.filter((s) => s.scheduledEventId > resetEventId),
  };
}

/** Resets the run to just before its first unfinished step; returns the id of the run that goes on. */
export async function resumeRun(client: Client, plan: ResumePlan): Promise<string> {
  const response: temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId: plan.workflowId, runId: plan.runId },
    workflowTaskFinishEventId: Long.fromNumber(plan.resetEventId),
    reason: `legible resume: re-run from event ${plan.resetEventId}`,
    requestId: randomUUID(),
  });
  return response.runId!;
}

/** A poller seen this recently counts as a live worker (an idle worker polls again at least once a minute). */
const LIVE_POLLER_SECONDS = 90;

/**
 * Of a run's task queues (its workflow queue `<prefix>-workflows` and `<prefix>-<tag>` for each tag), those that no
 * worker has polled in the last LIVE_POLLER_SECONDS: a run whose queues have none waits until one starts.
 */
export async function queuesWithoutWorkers(client: Client, workflowQueue: string, tags: ResourceTag[]): Promise<string[]> {
  const prefix = workflowQueue.replace(/-workflows$/, '');
  const queues: [name: string, type: temporal.api.enums.v1.TaskQueueType][] = [
    [workflowQueue, enums.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
    ...tags.map((t): [string, temporal.api.enums.v1.TaskQueueType] => [taskQueueFor(t, prefix), enums.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]),
  ];
  const now = Date.now() / 1000;
  const idle: string[] = [];
  for (const [name, taskQueueType] of queues) {
    const d = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name }, taskQueueType });
    const live = (d.pollers ?? []).some((p) => now - Number(p.lastAccessTime?.seconds ?? 0) < LIVE_POLLER_SECONDS);
    if (!live) idle.push(name);
  }
  return idle;
}
