// The explainer and simulator interfaces every provider implements (embedded now; OpenAI-compatible endpoints
// behind the same interface), and the factory that picks one from a pipeline's settings.
import type { UnitRecords } from '../interp/records';
import type { Pipeline } from '../pipelines/schema';
import { EmbeddedExplainer } from './embedded/explainer';
import { EmbeddedSimulator } from './embedded/simulator';

export interface Explanation {
  unit: number;
  /** Readable text: all that the simulator gets to see of the unit. */
  label: string;
}

export interface Explainer {
  readonly name: string;
  explain(units: UnitRecords[]): Promise<Explanation[]>;
}

/** Predicts a unit's activation on every token, on a 0 to 10 scale, from its label alone. */
export interface Simulator {
  readonly name: string;
  simulate(label: string, sentences: string[][]): Promise<number[][]>;
}

export function explainerFor(settings: Pipeline['explainer']): Explainer {
  switch (settings.provider) {
    case 'embedded':
      return new EmbeddedExplainer();
  }
}

export function simulatorFor(settings: Pipeline['simulator']): Simulator {
  switch (settings.provider) {
    case 'embedded':
      return new EmbeddedSimulator();
  }
}
