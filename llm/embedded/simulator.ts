// The embedded simulator: predicts a unit's activation (0 to 10) on each token from its label text alone, by
// reading the label into WordNet concepts and marking the tokens those concepts cover. Deterministic, no network.
import { SIMULATION_MAX, type Simulator } from '../types';
import { covers, readLabel } from './concepts';

export class EmbeddedSimulator implements Simulator {
  readonly name = 'embedded';

  /** A per-word prediction for one label; the same label is read once. */
  predictor(label: string): (word: string) => number {
    const concept = readLabel(label);
    const memo = new Map<string, number>();
    return (word) => {
      let v = memo.get(word);
      if (v === undefined) {
        v = covers(concept, word) ? SIMULATION_MAX : 0;
        memo.set(word, v);
      }
      return v;
    };
  }

  async simulate(label: string, sentences: string[][]): Promise<number[][]> {
    const predict = this.predictor(label);
    return sentences.map((s) => s.map(predict));
  }
}
