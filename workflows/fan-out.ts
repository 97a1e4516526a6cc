// A fan-out of one step kind over batches of units (explain or simulate a layer's neurons), as a child workflow of
// the layer. At most a window of its activities are in flight at once (under Temporal's limit on pending activities
// per workflow), and after a bounded number of activities it continues as new with the results so far (under the
// limit on history events), so a layer of any width runs within the server's limits (pipelines/plan-size.ts).
import { continueAsNew } from '@temporalio/workflow';
import type { Plan } from '../pipelines/plan';
import { fanOutLimits } from '../pipelines/plan-size';
import { inWindow, range, stepRunner, type StepInput, type StepResult } from './steps';

export type FanOutKind = 'explainNeurons' | 'simulateNeurons';

export interface FanOutInput<K extends FanOutKind = FanOutKind> {
  plan: Plan;
  layer: string;
  kind: K;
  /** The step's input, less its units. */
  input: Omit<StepInput<K>, 'units'>;
  /** The units of each activity. */
  batches: number[][];
  /** The results of the first `done.length` batches, carried over continue-as-new. */
  done: StepResult<K>[];
}

/** The results of every batch, in batch order. */
export async function fanOutSteps(i: FanOutInput): Promise<StepResult<FanOutKind>[]> {
  const first = i.done.length;
  const { step, enterLayer } = stepRunner(i.plan, { completedSteps: first });
  enterLayer(i.layer);
  const { window, activitiesPerRun } = fanOutLimits(i.plan.pipeline);
  const last = Math.min(i.batches.length, first + activitiesPerRun);
  const results = await inWindow(range(last - first), window, (k) => step(i.kind, { ...i.input, units: i.batches[first + k]! } as StepInput<FanOutKind>) as Promise<StepResult<FanOutKind>>);
  const done = [...i.done, ...results];
  if (last < i.batches.length) await continueAsNew<typeof fanOutSteps>({ ...i, done } as FanOutInput);
  return done;
}
