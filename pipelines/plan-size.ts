// The size of a plan as Temporal sees it, before it runs: activities per workflow, the most in flight at once,
// history events, and the workflow's result (the report). Temporal refuses a run past its limits only when it gets
// there (the run dies after hours of work, or hangs), so `legible validate` and `legible run` estimate these from
// the plan and refuse a plan that cannot finish. The per-activity and per-unit costs are measured on recorded
// histories (test/histories: 6.6–7.0 events per activity; the report about 330 bytes per unit plus about 11 KB per
// layer); the estimate rounds them up.
import type { Plan, SweepPlan } from './plan';

/** Temporal's default limits (dev server and cluster alike, unless changed by dynamic config). */
export const TEMPORAL_LIMITS = {
  /** limit.historyCount.error */
  historyEvents: 51_200,
  /** limit.blobSize.error: one payload, such as a workflow's result. */
  payloadBytes: 2 * 1024 * 1024,
  /** limit.numPendingActivities.error: activities scheduled and not yet finished, per workflow. */
  pendingActivities: 2_000,
} as const;

/** History events per activity (scheduled, started, completed, and its share of workflow tasks), rounded up. */
const EVENTS_PER_ACTIVITY = 7.5;
/** Report bytes: fixed, per processed layer, per unit of a processed layer (scores before and after). */
const REPORT_BYTES = { fixed: 5_000, perLayer: 12_000, perUnit: 350 };

export interface PlanSize {
  activities: number;
  /** The most activities one workflow has in flight at once (a layer's widest fan-out). */
  peakInFlight: number;
  historyEvents: number;
  resultBytes: number;
}

/** The estimated size of one run's workflow (see the header); a dictionary's live features are taken as all of them. */
export function planSize(plan: Plan): PlanSize {
  const perActivity = plan.pipeline.interpretability.unitsPerActivity;
  const batches = (units: number) => Math.ceil(units / perActivity);
  let activities = 4; // prepareCorpus, trainBaseModel, evaluateTask (base), initialiseRandomModel
  let peak = 1;
  let units = 0;
  for (const l of plan.layers) {
    const all = batches(l.width);
    const legible = batches(l.legibleUnits);
    const features = l.dictionary ? batches(Math.ceil(l.width * l.dictionary.expansion)) : 0;
    peak = Math.max(peak, all, features);
    units += l.width;
    // record; explain and simulate (select) every neuron; score the selection
    activities += 1 + 2 * all + 1;
    // dictionary: learn, explain and simulate its features, score, assign; the aligned labels on the score text
    if (l.dictionary) activities += 1 + 2 * features + 1 + 1 + legible + 1;
    // permuted labels: permute, simulate them on the score text
    if (plan.pipeline.alignment.labels === 'permuted') activities += 1 + legible;
    // simulate (score), score before, simulate (align), align and retrain (model and control), record after, score
    // after, evaluate (control and model)
    activities += all + 1 + legible + 4 + 1 + 1 + 2;
    // faithfulness: aligned labels on the select text, substitution twice, shuffled and random labels, the random network
    activities += (l.dictionary || plan.pipeline.alignment.labels === 'permuted' ? legible : 0) + 2 + 1 + 1 + legible + 1 + 1 + 2 * all + 1;
    // ablation at the end
    activities += 1;
  }
  activities += 1; // runOnLabelsAlone
  return {
    activities,
    peakInFlight: peak,
    historyEvents: Math.ceil(activities * EVENTS_PER_ACTIVITY),
    resultBytes: REPORT_BYTES.fixed + plan.layers.length * REPORT_BYTES.perLayer + units * REPORT_BYTES.perUnit,
  };
}

/** What in a plan (or a sweep's plans) cannot run within Temporal's limits, in words; empty when it fits. */
export function planProblems(plan: Plan | SweepPlan): string[] {
  const runs = 'points' in plan ? plan.points.map((p) => p.plan) : [plan];
  const problems: string[] = [];
  const sizes = runs.map(planSize);
  const worst = (key: keyof PlanSize) => Math.max(...sizes.map((s) => s[key]));
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (worst('historyEvents') > TEMPORAL_LIMITS.historyEvents)
    problems.push(
      `a run would write about ${worst('historyEvents').toLocaleString('en')} history events (${worst('activities').toLocaleString('en')} activities), past Temporal's limit of ${TEMPORAL_LIMITS.historyEvents.toLocaleString('en')}: raise interpretability.unitsPerActivity, or process fewer or narrower layers per pipeline (interpretability.startingDepth, layerOrder)`,
    );
  if (worst('peakInFlight') > TEMPORAL_LIMITS.pendingActivities)
    problems.push(`a layer would have ${worst('peakInFlight')} activities in flight at once, past Temporal's limit of ${TEMPORAL_LIMITS.pendingActivities}: raise interpretability.unitsPerActivity`);
  if (worst('resultBytes') > TEMPORAL_LIMITS.payloadBytes)
    problems.push(`a run's report would be about ${mb(worst('resultBytes'))}, past Temporal's payload limit of ${mb(TEMPORAL_LIMITS.payloadBytes)}: process fewer or narrower layers per pipeline (interpretability.startingDepth, layerOrder)`);
  if ('points' in plan) {
    const sweepResult = sizes.reduce((a, s) => a + s.resultBytes, 0);
    if (sweepResult > TEMPORAL_LIMITS.payloadBytes) problems.push(`the sweep's result (every point's report) would be about ${mb(sweepResult)}, past Temporal's payload limit of ${mb(TEMPORAL_LIMITS.payloadBytes)}: sweep fewer points per pipeline`);
  }
  return problems;
}

/** One line on a plan's size, for `legible validate`. */
export function describePlanSize(plan: Plan | SweepPlan): string {
  const runs = 'points' in plan ? plan.points.map((p) => p.plan) : [plan];
  const s = runs.map(planSize).reduce((a, b) => (b.historyEvents > a.historyEvents ? b : a));
  const kb = Math.ceil(s.resultBytes / 1024);
  return `${'points' in plan ? `${runs.length} runs, the largest: ` : ''}${s.activities} activities (at most ${s.peakInFlight} in flight), about ${s.historyEvents.toLocaleString('en')} history events of ${TEMPORAL_LIMITS.historyEvents.toLocaleString('en')}, a report of about ${kb} KB of ${TEMPORAL_LIMITS.payloadBytes / 1024} KB`;
}
