// The machine-readable report of a run or sweep (`legible report ID --format json`): the whole report as the
// workflow returned it, and per layer the scorers' group means gathered under `scores`. JSON has no NaN: a figure
// that was not measured is null. The README documents the fields.
import type { GroupScores } from '../interp/scoring';
import type { LayerReport, PipelineReport, SweepReport } from '../workflows/pipeline';
import type { PipelineReportV1 } from '../workflows/pipeline-v1';
import { currentReport } from './text';

/** One group's scorers on the score text: correlation (all tokens, top-and-random, random-only), detection, fuzzing, AUC. */
function scorers(g: GroupScores) {
  return { units: g.units, correlation: g.allTokens, topAndRandom: g.topAndRandom, randomOnly: g.randomOnly, detection: g.detection ?? null, fuzzing: g.fuzzing ?? null, auc: g.auc ?? null, defined: g.defined ?? null };
}

function layerJson(l: LayerReport) {
  return {
    ...l,
    faithfulness: l.faithfulness ?? null,
    controls: l.controls ? { shuffledLabels: null, ...l.controls } : null,
    scores: {
      legible: { before: scorers(l.legible.before), after: scorers(l.legible.after) },
      free: { before: scorers(l.free.before), after: scorers(l.free.after) },
    },
  };
}

export function runJson(r: PipelineReport | PipelineReportV1, workflowId?: string) {
  const report = currentReport(r, workflowId);
  return { kind: 'run' as const, ...report, labelsAlone: report.labelsAlone ?? null, layers: report.layers.map(layerJson) };
}

/** The JSON text of a finished run's or sweep's report (2-space indented). */
export function reportJson(workflowId: string, r: PipelineReport | SweepReport): string {
  const body = 'points' in r ? { kind: 'sweep' as const, workflowId, ...r, points: r.points.map((p) => ({ ...p, report: runJson(p.report, p.workflowId) })), failed: r.failed ?? [] } : { workflowId, ...runJson(r, workflowId) };
  return JSON.stringify(body, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
