// The size of a plan as Temporal sees it, before it runs, and the bounds that keep a run within the server's limits.
// A run is a tree of workflows: the pipeline workflow (the base model, one child workflow per layer, ablation and
// the labels-alone run), each layer's workflow (its steps, and one child workflow per explain or simulate fan-out),
// and each fan-out (its batches, at most `window` in flight, continuing as new every `activitiesPerRun`). So history
// per workflow is bounded whatever the width and number of layers, and payloads above the offload threshold are
// kept in the artifact store (temporal/payload-codec.ts). `legible validate` prints these figures and refuses only a
// plan whose fixed parts cannot fit the limits. Events per step are counted from the workflow code: an activity is
// scheduled, started and completed, with a search-attribute update and at worst a workflow task of its own (7); a
// child workflow is initiated, started and completed, with a workflow task after each of the last two (9). Checked
// against recorded histories in test/pipeline.integration.test.ts.
import type { Pipeline } from './schema';
import type { Plan, SweepPlan } from './plan';

/** Temporal's default limits (dev server and cluster alike, unless changed by dynamic config). */
export const TEMPORAL_LIMITS = {
  /** limit.historyCount.error */
  historyEvents: 51_200,
  /** limit.blobSize.error: one payload, such as a workflow's result. */
  payloadBytes: 2 * 1024 * 1024,
  /** limit.numPendingActivities.error: activities scheduled and not yet finished, per workflow. */
  pendingActivities: 2_000,
  /** limit.numPendingChildExecutions.error: child workflows started and not yet finished, per workflow (a sweep's points). */
  pendingChildren: 2_000,
} as const;

const EVENTS_PER_ACTIVITY = 7;
const EVENTS_PER_CHILD = 9;
/** The pipeline workflow's patched() markers (pipeline.ts). */
const PIPELINE_MARKERS = 3;
/** A workflow's own events: started, its first workflow task, its layer attribute, completed (or continued). */
const FIXED_EVENTS = 10;
/** Share of the history limit a fan-out fills before it continues as new. */
const HISTORY_HEADROOM = 0.8;
/** Report bytes: fixed, per processed layer, per unit of a processed layer (scores before and after). */
const REPORT_BYTES = { fixed: 5_000, perLayer: 12_000, perUnit: 350 };

/**
 * How a fan-out keeps within the limits of `pipeline.temporalLimits`: at most `window` activities in flight (90% of
 * the pending-activity limit) and `activitiesPerRun` activities per run before it continues as new (80% of the
 * history limit).
 */
export function fanOutLimits(p: Pipeline): { window: number; activitiesPerRun: number } {
  const limits = p.temporalLimits;
  return {
    window: Math.max(1, Math.floor(limits.pendingActivities * 0.9)),
    activitiesPerRun: Math.max(1, Math.floor((limits.historyEvents * HISTORY_HEADROOM - FIXED_EVENTS) / EVENTS_PER_ACTIVITY)),
  };
}

export interface PlanSize {
  /** Activities of the whole run. */
  activities: number;
  /** The pipeline workflow's own history events (its steps and one child per layer). */
  pipelineEvents: number;
  /** The largest layer workflow's own history events (its steps and one child per fan-out). */
  layerEvents: number;
  /** The widest fan-out's activities, the most in flight at once, and the runs it continues over. */
  fanOut: { activities: number; inFlight: number; runs: number; eventsPerRun: number };
  /** The report (the pipeline workflow's result) before offloading. */
  resultBytes: number;
}

/** The estimated size of one run (see the header); a dictionary's live features are taken as all of them. */
export function planSize(plan: Plan): PlanSize {
  const p = plan.pipeline;
  const perActivity = p.interpretability.unitsPerActivity;
  const batches = (units: number) => Math.ceil(units / perActivity);
  const { window, activitiesPerRun } = fanOutLimits(p);
  const relabelled = (l: Plan['layers'][number]) => l.dictionary !== undefined || p.alignment.labels === 'permuted';
  let activities = 4 + 1; // prepareCorpus, trainBaseModel, evaluateTask (base), initialiseRandomModel; runOnLabelsAlone
  let layerEvents = 0;
  let widest = 0;
  let units = 0;
  for (const l of plan.layers) {
    const all = batches(l.width);
    const legible = batches(l.legibleUnits);
    const features = l.dictionary ? batches(Math.ceil(l.width * l.dictionary.expansion)) : 0;
    widest = Math.max(widest, all, features);
    units += l.width;
    // record, score selection and before, align and retrain (model and control), record after, score after,
    // evaluate (control and model); faithfulness: substitution twice, shuffled labels, random labels (draw,
    // score), the random network (record, score)
    let steps = 11 + 7;
    // explain; simulate select, score, align; random labels, random network explain and simulate
    let fanOuts = 7;
    let fanned = 3 * all + legible + legible + 2 * all;
    if (l.dictionary) {
      steps += 4; // learn, score features, assign, score with the features' labels
      fanOuts += 2; // explain and simulate the features
      fanned += 2 * features;
    }
    if (p.alignment.labels === 'permuted') steps += 1;
    if (relabelled(l)) {
      fanOuts += 2; // the aligned labels on the score and the select text
      fanned += 2 * legible;
    }
    activities += steps + fanned + 1; // and the ablation at the end
    layerEvents = Math.max(layerEvents, FIXED_EVENTS + steps * EVENTS_PER_ACTIVITY + fanOuts * EVENTS_PER_CHILD);
  }
  const parentSteps = 5 + plan.layers.length; // and one ablation per layer
  return {
    activities,
    pipelineEvents: FIXED_EVENTS + PIPELINE_MARKERS + parentSteps * EVENTS_PER_ACTIVITY + plan.layers.length * (EVENTS_PER_CHILD + 1),
    layerEvents,
    fanOut: { activities: widest, inFlight: Math.min(widest, window), runs: Math.max(1, Math.ceil(widest / activitiesPerRun)), eventsPerRun: FIXED_EVENTS + Math.min(widest, activitiesPerRun) * EVENTS_PER_ACTIVITY },
    resultBytes: REPORT_BYTES.fixed + plan.layers.length * REPORT_BYTES.perLayer + units * REPORT_BYTES.perUnit,
  };
}

/** What in a plan (or a sweep's plans) cannot run within its Temporal limits, in words; empty when it fits. */
export function planProblems(plan: Plan | SweepPlan): string[] {
  const runs = 'points' in plan ? plan.points.map((p) => p.plan) : [plan];
  const problems: string[] = [];
  for (const run of runs) {
    const s = planSize(run);
    const limit = run.pipeline.temporalLimits.historyEvents;
    const fits = (events: number, what: string) => {
      if (events > limit) problems.push(`${what} would write about ${events.toLocaleString('en')} history events, past temporalLimits.historyEvents (${limit.toLocaleString('en')}): ${what === 'the pipeline workflow' ? 'process fewer layers per pipeline (interpretability.startingDepth, layerOrder)' : 'its steps are fixed; this server\'s history limit is too low for Legible'}`);
    };
    fits(s.pipelineEvents, 'the pipeline workflow');
    fits(s.layerEvents, 'a layer workflow');
  }
  if ('points' in plan) {
    const events = 10 + plan.points.length * EVENTS_PER_CHILD;
    const limit = plan.points[0]!.plan.pipeline.temporalLimits.historyEvents;
    if (events > limit) problems.push(`the sweep's ${plan.points.length} points would write about ${events} history events in the sweep workflow, past temporalLimits.historyEvents (${limit}): sweep fewer settings at once`);
    if (plan.points.length > TEMPORAL_LIMITS.pendingChildren) problems.push(`the sweep's ${plan.points.length} points would run as that many child workflows at once, past Temporal's limit of ${TEMPORAL_LIMITS.pendingChildren}: sweep fewer settings or seeds at once`);
  }
  return [...new Set(problems)];
}

/** A few lines on a plan's size, for `legible validate`; `offloadBytes`: payloads above it go to the artifact store. */
export function describePlanSize(plan: Plan | SweepPlan, offloadBytes: number): string {
  const runs = 'points' in plan ? plan.points.map((p) => p.plan) : [plan];
  const sizes = runs.map(planSize);
  const s = sizes.reduce((a, b) => (b.activities > a.activities ? b : a));
  const limits = runs[0]!.pipeline.temporalLimits;
  const n = (x: number) => x.toLocaleString('en');
  return [
    `${'points' in plan ? `${runs.length} runs (child workflows of the sweep), the largest: ` : ''}${n(s.activities)} activities`,
    `history events per workflow (limit ${n(limits.historyEvents)}): pipeline ${n(s.pipelineEvents)}, largest layer ${n(s.layerEvents)}, fan-out ${n(s.fanOut.eventsPerRun)} per run`,
    `widest fan-out: ${n(s.fanOut.activities)} activit${s.fanOut.activities === 1 ? 'y' : 'ies'}, at most ${n(s.fanOut.inFlight)} in flight (limit ${n(limits.pendingActivities)}), over ${n(s.fanOut.runs)} run${s.fanOut.runs === 1 ? '' : 's'} (continue-as-new)`,
    `largest payload: the report, about ${n(Math.ceil(s.resultBytes / 1024))} KB${s.resultBytes > offloadBytes ? ', kept in the artifact store' : ''} (every payload over ${n(Math.round(offloadBytes / 1024))} KB travels as a reference to the store)`,
  ].join('\n    ');
}
