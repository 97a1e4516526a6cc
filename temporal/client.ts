// Starting a pipeline run on Temporal: the workflow id, the memo (the pipeline YAML and its hash) and the search
// attributes a person finds the run by in the Temporal UI.
import { Client, type ConnectionLike, type WorkflowHandle } from '@temporalio/client';
import type { Plan } from '../pipelines/plan';
import { legiblePipeline } from '../workflows';
import { PIPELINE_ATTRIBUTE, PIPELINE_HASH_ATTRIBUTE } from './search-attributes';
import { workflowTaskQueue } from './workers';

export interface StartedRun {
  workflowId: string;
  handle: WorkflowHandle<typeof legiblePipeline>;
}

export async function startPipelineRun(
  connection: ConnectionLike,
  plan: Plan,
  yamlText: string,
  o: { namespace?: string; queuePrefix?: string; workflowId?: string } = {},
): Promise<StartedRun> {
  const client = new Client({ connection, namespace: o.namespace ?? 'default' });
  const workflowId = o.workflowId ?? `${plan.pipelineName}-${plan.pipelineHash.slice(0, 8)}-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}`;
  const handle = await client.workflow.start(legiblePipeline, {
    taskQueue: workflowTaskQueue(o.queuePrefix),
    workflowId,
    args: [plan],
    memo: { pipelineYaml: yamlText, pipelineHash: plan.pipelineHash },
    typedSearchAttributes: [
      { key: PIPELINE_ATTRIBUTE, value: plan.pipelineName },
      { key: PIPELINE_HASH_ATTRIBUTE, value: plan.pipelineHash },
    ],
    staticSummary: `Legible pipeline ${plan.pipelineName}: ${plan.layers.map((l) => l.name).join(' → ')}`,
  });
  return { workflowId, handle };
}

export function workflowUrl(uiUrl: string, workflowId: string, namespace = 'default'): string {
  return `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}
