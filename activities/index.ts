// Every step kind of a pipeline, one activity each, in the order a run calls them: thin wrappers that load their
// inputs from the artifact store, call the plain modules (data/, nn/, interp/, llm/, stats/), store what they make
// and return small JSON. Two families: model.ts (train, evaluate, align, retrain, ablate) and interpret.ts (record,
// dictionary, explain, simulate, score, assign); context.ts holds what they share (memoised results, checkpoints).
import type { ArtifactStore } from '../store/artifacts';
import { stepContext } from './context';
import { interpretSteps } from './interpret';
import { modelSteps } from './model';

export type { ModelResult } from './context';
export type { ScoreSummary } from './interpret';
export type { AblationFigures, TaskFigures } from './model';

export function createActivities(store: ArtifactStore) {
  const context = stepContext(store);
  const model = modelSteps(context);
  const interpret = interpretSteps(context);
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
    alignLegibleNeurons: model.alignLegibleNeurons,
    retrainLayersAbove: model.retrainLayersAbove,
    ablateNeurons: model.ablateNeurons,
  };
}

export type Activities = ReturnType<typeof createActivities>;
