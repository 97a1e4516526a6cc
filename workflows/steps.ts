// Running one step of a pipeline as an activity: the task queue, timeouts and retry policy of its step kind (from
// the plan), a readable summary in the Temporal UI, the step and layer search attributes, and the progress, backends
// and language-model usage a run reports; and the small deterministic helpers workflow code shares (ranges, batches,
// a seeded order without an RNG). Shared by every version of the pipeline workflow.
import { defineQuery, executeChild, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, type Workflow, type WorkflowResultType } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Plan } from '../pipelines/plan';
import type { StepKind } from '../pipelines/schema';
import { addUsage, noUsage, type Usage } from '../llm/types';
import { LAYER_ATTRIBUTE, STEP_ATTRIBUTE } from '../temporal/search-attributes';

export interface PipelineProgress {
  layer?: string;
  step?: StepKind;
  /** Steps finished by this workflow and by the child workflows it has finished waiting for. */
  completedSteps: number;
  /** The child workflows running now (a layer; a fan-out of explain or simulate batches): where the rest of the progress is. */
  children?: string[];
}

export const progressQuery = defineQuery<PipelineProgress>('progress');

export type StepResult<K extends StepKind> = Awaited<ReturnType<Activities[K]>>;
export type StepInput<K extends StepKind> = Parameters<Activities[K]>[0];

/** What a child workflow that runs steps of its own hands back besides its result (see stepRunner's child). */
export interface SubtreeFigures {
  usage: Usage;
  backends: string[];
  completedSteps: number;
}

/** The step runner of one workflow, with what it gathers along the way (`completedSteps`: done by earlier runs of a workflow that continued as new). */
export function stepRunner(plan: Plan, o: { completedSteps?: number } = {}) {
  const progress: PipelineProgress = { completedSteps: o.completedSteps ?? 0, children: [] };
  setHandler(progressQuery, () => progress);
  const backends = new Set<string>();
  let usage = noUsage();

  /** Runs one step as an activity on its tag's task queue, with its timeouts and retry policy. */
  async function step<K extends StepKind>(kind: K, input: Parameters<Activities[K]>[0]): Promise<StepResult<K>> {
    const units = 'units' in input && Array.isArray(input.units) ? input.units : undefined;
    const where = [progress.layer ? `layer ${progress.layer}` : 'model', ...(units && units.length > 0 ? [`units ${units[0]}–${units[units.length - 1]}`] : []), ...('split' in input ? [`${input.split} text`] : [])];
    const o = plan.steps[kind];
    progress.step = kind;
    upsertSearchAttributes([{ key: STEP_ATTRIBUTE, value: kind }]);
    setCurrentDetails(`${progress.layer ? `layer ${progress.layer}: ` : ''}${kind}`);
    const activity = proxyActivities<Activities>({
      taskQueue: o.taskQueue,
      startToCloseTimeout: o.startToCloseTimeout,
      ...(o.heartbeatTimeout ? { heartbeatTimeout: o.heartbeatTimeout } : {}),
      retry: o.retry,
      summary: where.join(', '),
    })[kind] as (i: typeof input) => Promise<StepResult<K>>;
    const result = await activity(input);
    record(result);
    return result;
  }

  /** Counts a finished step, with its backend and language-model usage. */
  function record(result: object): void {
    progress.completedSteps++;
    if ('backend' in result && typeof result.backend === 'string') backends.add(result.backend);
    if ('usage' in result) usage = addUsage(usage, result.usage as Usage);
  }

  /**
   * Runs a child workflow (summary: what it shows in the Temporal UI) and counts what it did: a list result is one
   * finished step per item (a fan-out's step results); an object with SubtreeFigures adds those (a layer).
   */
  async function child<W extends Workflow>(workflow: W, workflowId: string, args: Parameters<W>, summary: string): Promise<WorkflowResultType<W>> {
    progress.children!.push(workflowId);
    let result: WorkflowResultType<W>;
    try {
      // In-process workers share one thread with CPU-bound steps, which can hold a workflow task back for seconds.
      result = (await executeChild<Workflow>(workflow.name, { workflowId, args: args as unknown[], staticSummary: summary, workflowTaskTimeout: '1m' })) as WorkflowResultType<W>;
    } finally {
      progress.children = progress.children!.filter((c) => c !== workflowId);
    }
    if (Array.isArray(result)) for (const r of result) record(r as object);
    else {
      const subtree = result as unknown as SubtreeFigures;
      progress.completedSteps += subtree.completedSteps;
      for (const b of subtree.backends) backends.add(b);
      usage = addUsage(usage, subtree.usage);
    }
    return result;
  }

  /**
   * Marks the layer the following steps belong to: in the progress, and (unless told not to) the search attribute.
   * `undefined`: the steps that follow concern the whole model (the search attribute keeps the last layer).
   */
  function enterLayer(name: string | undefined, o: { searchAttribute: boolean } = { searchAttribute: true }): void {
    progress.layer = name;
    if (name !== undefined && o.searchAttribute) upsertSearchAttributes([{ key: LAYER_ATTRIBUTE, value: name }]);
  }

  function finish(): void {
    progress.step = undefined;
    progress.layer = undefined;
    setCurrentDetails('finished');
  }

  return { step, child, enterLayer, finish, backends, usage: (): Usage => usage, completedSteps: (): number => progress.completedSteps };
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * Runs `run` on every item with at most `window` running at once (a new one starts as one finishes); the results in
 * item order. Deterministic in workflow code: Temporal delivers the completions in the order of the history.
 */
export async function inWindow<T, R>(items: T[], window: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const k = next++;
      results[k] = await run(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, items.length) }, lane));
  return results;
}

export function batches<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A 32-bit integer hash of (seed, unit) (the finaliser of MurmurHash3): a seeded random order without an RNG. */
export function mix(seed: number, unit: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(unit + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
