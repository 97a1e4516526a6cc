// The explainer and simulator interfaces every provider implements (the embedded WordNet one and any
// OpenAI-compatible endpoint), the plain records they exchange, and the usage they report.
import type { UnitRecords } from '../interp/records';
import type { ArtifactStore } from '../store/artifacts';

/** Simulations are on this scale: 0 (silent) to SIMULATION_MAX (fully active). */
export const SIMULATION_MAX = 10;

/** A neuron of the layer below that feeds the unit, with its weight and label. */
export interface IncomingNeuron {
  unit: number;
  weight: number;
  label: string;
}

/** All an explainer sees of one unit. */
export interface ExplainRequest {
  records: UnitRecords;
  /** The strongest incoming neurons (pipeline option `interpretability.incoming.topN`), strongest first. */
  incoming?: IncomingNeuron[];
}

export interface Explanation {
  unit: number;
  /** Readable text: all that the simulator gets to see of the unit. */
  label: string;
}

export interface Explainer {
  readonly name: string;
  explain(requests: ExplainRequest[]): Promise<Explanation[]>;
}

/** Predicts a unit's activation on every token, from 0 to SIMULATION_MAX, from its label alone. */
export interface Simulator {
  readonly name: string;
  /** How the simulations were read (an endpoint's logprobs or its written numbers), where a provider has a choice. */
  readonly method?: string;
  /** What a reader of the step's result should know (a fallback taken, say). */
  readonly notes?: string[];
  simulate(label: string, sentences: string[][]): Promise<number[][]>;
}

/** Calls and tokens spent on a language model by one step. */
export interface Usage {
  calls: number;
  /** Answers found in the artifact store's cache: no request was made. */
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
}

export const noUsage = (): Usage => ({ calls: 0, cachedCalls: 0, promptTokens: 0, completionTokens: 0 });

export function addUsage(a: Usage, b: Usage): Usage {
  return { calls: a.calls + b.calls, cachedCalls: a.cachedCalls + b.cachedCalls, promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens };
}

/** What a provider may use: the artifact store (its cache and failed answers) and the step's usage meter. */
export interface ProviderContext {
  store: ArtifactStore;
  usage: Usage;
}
