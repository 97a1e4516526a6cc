// Every step kind of a pipeline, one activity each, in the order a run calls them: thin wrappers that load their
// inputs from the artifact store, call the plain modules (data/, nn/, interp/, llm/, stats/), store what they make
// and return small JSON. Three families: model.ts (train, evaluate, align, retrain, ablate), interpret.ts (record,
// dictionary, explain, simulate, score, assign) and faithfulness.ts (substitution, the network on its labels alone,
// the controls' random labels and random model); context.ts holds what they share (memoised results, checkpoints).
import type { ArtifactStore } from '../store/artifacts';
import { stepContext } from './context';
import { faithfulnessSteps } from './faithfulness';
import { interpretSteps } from './interpret';
import { modelSteps } from './model';

export type { ModelResult } from './context';
export type { ScoreSummary } from './interpret';
export type { LabelsAloneFigures } from './faithfulness';
export type { AblationFigures, TaskFigures } from './model';

export function createActivities(store: ArtifactStore) {
  const context = stepContext(store);
  const model = modelSteps(context);
  const interpret = interpretSteps(context);
  const faithfulness = faithfulnessSteps(context);
  return {
    prepareCorpus: model.prepareCorpus,
    trainBaseModel: model.trainBaseModel,
    evaluateTask: model.evaluateTask,
    recordActivations: interpret.recordActivations,
    explainNeurons: interpret.explainNeurons,
    simulateNeurons: interpret.simulateNeurons,
    scoreExplanations: interpret.scoreExplanations,
    learnDictionary: interpret.learnDictionary,
    assignDictionaryFeatures: interpret.assignDictionaryFeatures,
    permuteLabels: faithfulness.permuteLabels,
    alignLegibleNeurons: model.alignLegibleNeurons,
    retrainLayersAbove: model.retrainLayersAbove,
    substituteLabels: faithfulness.substituteLabels,
    drawRandomLabels: faithfulness.drawRandomLabels,
    initialiseRandomModel: faithfulness.initialiseRandomModel,
    ablateNeurons: model.ablateNeurons,
    runOnLabelsAlone: faithfulness.runOnLabelsAlone,
  };
}

export type Activities = ReturnType<typeof createActivities>;
