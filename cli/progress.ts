// Live progress of a running pipeline for `legible run` and `legible status`: the heartbeat details of its running
// steps (epoch, step, loss; units explained) and its layer, from the server (no worker needed), and the steps done
// from the workflows' progress query where a worker answers it. On a
// terminal one line is redrawn with a bar; elsewhere a plain line is printed whenever the step changes.
import type { WorkflowHandle } from '@temporalio/client';
import { LAYER_ATTRIBUTE } from '../temporal/search-attributes';
import { progressQuery } from '../workflows/pipeline';

/** Heartbeat details of a running step, as the activities send them. */
interface Details {
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  taskLoss?: number;
  alignLoss?: number;
  loss?: number;
  unitsExplained?: number;
  unitsSimulated?: number;
  units?: number;
}

/** One running step's progress as text: a fraction done, and what it is doing. */
export function describeHeartbeat(kind: string, d: Details): { fraction?: number; text: string } {
  if (d.steps && d.step !== undefined)
    return {
      fraction: (d.step + 1) / d.steps,
      text: `${kind} epoch ${(d.epoch ?? 0) + 1}/${d.epochs ?? '?'}, step ${d.step + 1}/${d.steps}${d.taskLoss !== undefined ? `, loss ${d.taskLoss.toFixed(3)}` : ''}${d.alignLoss ? `, alignment ${d.alignLoss.toFixed(3)}` : ''}`,
    };
  if (d.epochs && d.epoch !== undefined) return { fraction: (d.epoch + 1) / d.epochs, text: `${kind} epoch ${d.epoch + 1}/${d.epochs}${d.loss !== undefined ? `, loss ${d.loss.toFixed(4)}` : ''}` };
  const done = d.unitsExplained ?? d.unitsSimulated;
  if (done !== undefined && d.units) return { fraction: done / d.units, text: `${kind} ${done}/${d.units} units ${d.unitsExplained !== undefined ? 'explained' : 'simulated'}` };
  return { text: kind };
}

function bar(fraction: number, width = 20): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)} ${Math.round(fraction * 100)}%`.padEnd(width + 5);
}

type WorkflowDescription = Awaited<ReturnType<WorkflowHandle['describe']>>;
type PendingActivity = NonNullable<WorkflowDescription['raw']['pendingActivities']>[number];

/** How long the progress query may wait for a worker to answer (a run without workers answers none). */
const QUERY_DEADLINE_MS = 2000;

/**
 * The progress of a workflow and of the child workflows it is waiting on (its layers, its fan-outs, a sweep's points),
 * merged, from the server's description of each (no worker needed): the running steps with their last heartbeat and
 * the current layer. The steps done come from the progress query, where a worker answers it within 2 s.
 */
async function treeProgress(handle: WorkflowHandle, described?: WorkflowDescription, depth = 0): Promise<{ layer?: string; pending: PendingActivity[] }> {
  const d = described ?? (await handle.describe());
  const merged = { layer: d.typedSearchAttributes.get(LAYER_ATTRIBUTE), pending: [...(d.raw.pendingActivities ?? [])] };
  for (const child of depth < 4 ? (d.raw.pendingChildren ?? []) : []) {
    if (!child.workflowId) continue;
    try {
      const sub = await treeProgress(handle.client.getHandle(child.workflowId), undefined, depth + 1);
      merged.layer = sub.layer ?? merged.layer;
      merged.pending.push(...sub.pending);
    } catch {
      // A child that has not started yet, or has just finished: its parent's figures stand.
    }
  }
  return merged;
}

/** Steps done by a workflow and its running children, where a worker answers the progress query in time. */
async function completedSteps(handle: WorkflowHandle): Promise<number | undefined> {
  const connection = handle.client.connection;
  try {
    const p = await connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
    let n = p.completedSteps;
    for (const child of p.children ?? []) n += (await completedSteps(handle.client.getHandle(child))) ?? 0;
    return n;
  } catch {
    return undefined;
  }
}

/** The progress of a running workflow (with its child workflows), once, as a line. */
export async function progressLine(handle: WorkflowHandle): Promise<string> {
  // A sweep: one short entry per running point, named by its number.
  const d = await handle.describe();
  if (d.type === 'legibleSweep') {
    const points = await Promise.all(
      (d.raw.pendingChildren ?? []).map(async (c) => `point ${/-point-(\d+)$/.exec(c.workflowId ?? '')?.[1] ?? '?'} ${await runLine(handle.client.getHandle(c.workflowId!)).catch(() => 'starting')}`),
    );
    return points.length > 0 ? points.join(' | ') : 'between points';
  }
  return runLine(handle, d);
}

/** One run's progress line (see progressLine); `described`: its description, where the caller has it. */
async function runLine(handle: WorkflowHandle, described?: WorkflowDescription): Promise<string> {
  const [p, done] = await Promise.all([treeProgress(handle, described), completedSteps(handle)]);
  const running = p.pending.map((a) => {
    const data = a.heartbeatDetails?.payloads?.[0]?.data;
    const details = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as Details) : {};
    return describeHeartbeat(a.activityType?.name ?? '?', details);
  });
  const main = running.find((r) => r.fraction !== undefined) ?? running[0];
  const where = p.layer ? `layer ${p.layer}` : 'model';
  const now = main ? `${main.fraction !== undefined ? `${bar(main.fraction)} ` : ''}${main.text}` : 'between steps';
  return `[${where}] ${now}${running.length > 1 ? ` (+${running.length - 1} more running)` : ''}${done === undefined ? '' : ` · ${done} steps done`}`;
}

/** Shows progress until `done` settles: a redrawn line on a terminal, plain lines when the step changes elsewhere. */
export function showProgress(handle: WorkflowHandle, done: Promise<unknown>, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const tty = out.isTTY === true;
  let last = '';
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  return (async () => {
    while (!finished) {
      try {
        const line = await progressLine(handle);
        if (tty) out.write(`\r\x1b[K${line.slice(0, (out.columns ?? 120) - 1)}`);
        else {
          const step = line.replace(/ [█░]+ \d+%/, '').replace(/, step \d+\/\d+.*?(?= ·)/, '').replace(/ · \d+ steps done/, '');
          if (step !== last) out.write(`${line}\n`);
          last = step;
        }
      } catch {
        // The workflow may not answer queries yet (no worker has picked it up); try again.
      }
      await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    }
    if (tty) out.write('\r\x1b[K');
  })();
}
