// Benchmark: what Temporal adds to a run. Runs the demo pipeline (pipelines/demo.yaml) on a local dev server with
// in-process workers and an empty artifact store, and compares the workflow's wall time with the time its activities
// were executing (ActivityTaskStarted to ActivityTaskCompleted in the history; overlapping activities counted once);
// prints the overhead and the median gap per activity, and writes them under "orchestration" in
// bench/results/latest.json.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync } from 'node:fs';
import { saveResults } from './results';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipeline } from '../pipelines/load';
import { expandPlan } from '../pipelines/plan';
import { startPipelineRun } from '../temporal/client';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { ensureTemporalCli } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers, storeQueuePrefix } from '../temporal/workers';

const PIPELINE = readFileSync(join(__dirname, '..', 'pipelines', 'demo.yaml'), 'utf8');

const seconds = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) + (t?.nanos ?? 0) / 1e9;

async function main(): Promise<void> {
  installQuietRuntime();
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: ensureTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES } });
  const storeRoot = mkdtempSync(join(tmpdir(), 'legible-bench-'));
  const workers = await startWorkers({ address: env.address, tags: ALL_TAGS, workflows: true, storeRoot });
  try {
    const queuePrefix = await storeQueuePrefix(storeRoot);
    const { handle } = await startPipelineRun(env.connection, expandPlan(parsePipeline(PIPELINE), PIPELINE, queuePrefix), PIPELINE, { queuePrefix, workflowId: `bench-orchestration-${Date.now()}` });
    await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    const wall = seconds(events.at(-1)!.eventTime) - seconds(events[0]!.eventTime);
    const started = new Map<number, number>();
    const scheduled = new Map<number, number>();
    const kinds = new Map<number, string>();
    const byKind: Record<string, number> = {};
    const intervals: [number, number][] = [];
    const gaps: number[] = [];
    let lastEnd = seconds(events[0]!.eventTime);
    for (const e of events) {
      if (e.activityTaskScheduledEventAttributes) {
        scheduled.set(Number(e.eventId), seconds(e.eventTime));
        kinds.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType!.name!);
      }
      if (e.activityTaskStartedEventAttributes) started.set(Number(e.activityTaskStartedEventAttributes.scheduledEventId), seconds(e.eventTime));
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const id = Number(done.scheduledEventId);
        intervals.push([started.get(id)!, seconds(e.eventTime)]);
        byKind[kinds.get(id)!] = (byKind[kinds.get(id)!] ?? 0) + seconds(e.eventTime) - started.get(id)!;
        gaps.push(Math.max(0, started.get(id)! - Math.max(lastEnd, scheduled.get(id)!)));
        lastEnd = seconds(e.eventTime);
      }
    }
    gaps.sort((a, b) => a - b);
    intervals.sort((a, b) => a[0] - b[0]);
    let busy = 0;
    let covered = -Infinity;
    for (const [from, to] of intervals) {
      busy += Math.max(0, to - Math.max(from, covered));
      covered = Math.max(covered, to);
    }
    const result = {
      activities: gaps.length,
      wallSeconds: wall,
      activitySeconds: busy,
      overheadFraction: (wall - busy) / wall,
      medianGapMs: 1000 * gaps[Math.floor(gaps.length / 2)]!,
      secondsByStepKind: byKind,
    };
    console.log(`orchestration: ${result.activities} activities; workflow wall time ${wall.toFixed(1)} s, activities executing ${busy.toFixed(1)} s`);
    console.log(`Temporal adds ${(100 * result.overheadFraction).toFixed(1)}% to the wall time; median wait from an activity's turn to its start ${result.medianGapMs.toFixed(0)} ms`);
    console.log(`where the time goes (seconds executing, by step kind): ${Object.entries(byKind).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
    saveResults({ orchestration: result });
  } finally {
    await workers.shutdown();
    await env.teardown();
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
