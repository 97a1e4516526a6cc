// Starting a pipeline run on Temporal: the workflow id, the memo (the pipeline YAML and its hash) and the search
// attributes a person finds the run by in the Temporal UI.
import { randomBytes } from 'node:crypto';
import { Client, type ConnectionLike, type WorkflowHandle } from '@temporalio/client';
import type { Plan, SweepPlan } from '../pipelines/plan';
import { legiblePipeline, legibleSweep } from '../workflows';
import type { SweepPoint } from '../workflows/pipeline';
import { PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE } from './search-attributes';
import { dataConverterFor } from './payload-codec';
import { workflowTaskQueue } from './workers';

/** A client of the Temporal server for the store at `storeRoot`: its large payloads are kept in that store. */
export function legibleClient(connection: ConnectionLike, storeRoot: string | undefined, namespace = 'default'): Client {
  return new Client({ connection, namespace, ...(storeRoot ? { dataConverter: dataConverterFor(storeRoot) } : {}) });
}

export interface StartedRun {
  workflowId: string;
  handle: WorkflowHandle<typeof legiblePipeline>;
}

/** A run's memo, as runOptions writes it: what `resume`, `report` and `export` read back (fields absent in older runs). */
export interface RunMemo {
  pipelineYaml?: string;
  pipelineHash?: string;
  /** The LEGIBLE_HOME it was started with. */
  storeRoot?: string;
  /** The LEGIBLE_STORE it was started with, where set. */
  store?: string;
}

interface StartOptions {
  namespace?: string;
  queuePrefix?: string;
  workflowId?: string;
  /**
   * The artifact store's directory (LEGIBLE_HOME), kept in the memo with LEGIBLE_STORE where set: where a resume or
   * report of the run must look. Its large payloads go there.
   */
  storeRoot?: string;
}

function runOptions(p: { pipelineName: string; pipelineHash: string }, yamlText: string, o: StartOptions) {
  return {
    taskQueue: workflowTaskQueue(o.queuePrefix),
    // The pipeline, its hash and the start time to the second, and four random hex digits: two runs started in the
    // same second get ids of their own.
    workflowId: o.workflowId ?? `${p.pipelineName}-${p.pipelineHash.slice(0, 8)}-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(2).toString('hex')}`,
    memo: { pipelineYaml: yamlText, pipelineHash: p.pipelineHash, ...(o.storeRoot ? { storeRoot: o.storeRoot } : {}), ...(process.env.LEGIBLE_STORE ? { store: process.env.LEGIBLE_STORE } : {}) } satisfies RunMemo,
    // In-process workers share one thread with CPU-bound steps, which can hold a workflow task back for seconds.
    workflowTaskTimeout: '1m',
    typedSearchAttributes: [
      { key: PIPELINE_ATTRIBUTE, value: p.pipelineName },
      { key: PIPELINE_HASH_ATTRIBUTE, value: p.pipelineHash },
    ],
  };
}

export async function startPipelineRun(connection: ConnectionLike, plan: Plan, yamlText: string, o: StartOptions = {}): Promise<StartedRun> {
  const client = legibleClient(connection, o.storeRoot, o.namespace);
  const options = runOptions(plan, yamlText, o);
  const handle = await client.workflow.start(legiblePipeline, {
    ...options,
    args: [plan],
    staticSummary: `Legible pipeline ${plan.pipelineName}: ${plan.layers.map((l) => l.name).join(' → ')}`,
  });
  return { workflowId: options.workflowId, handle };
}

/** Starts a sweep; `resumed`: the points an earlier run of the same workflow id finished, which this run keeps. */
export async function startSweepRun(connection: ConnectionLike, sweep: SweepPlan, yamlText: string, o: StartOptions & { resumed?: { done: SweepPoint[] } } = {}) {
  const client = legibleClient(connection, o.storeRoot, o.namespace);
  const options = runOptions(sweep, yamlText, o);
  const handle = await client.workflow.start(legibleSweep, {
    ...options,
    args: o.resumed ? [sweep, o.resumed] : [sweep],
    staticSummary: `Legible sweep ${sweep.pipelineName}: ${sweep.points.length} points`,
  });
  return { workflowId: options.workflowId, handle };
}

export function workflowUrl(uiUrl: string, workflowId: string, namespace = 'default'): string {
  return `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
