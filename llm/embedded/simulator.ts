// The embedded simulator: predicts a unit's activation (0 to 10) on each token from its label text alone, by reading
// the label into WordNet-grounded concepts (labels.ts) and grading how far they cover each token's word in its
// sentence (concepts.ts; tokens are matched as words: words.ts). Deterministic, no network.
import { SIMULATION_MAX, type Simulator } from '../types';
import { covers, type Concept } from './concepts';
import { readLabel } from './labels';
import { sentenceWords } from './words';

export class EmbeddedSimulator implements Simulator {
  readonly name = 'embedded';

  /** Predictions (0 to 10) for every token of one sentence, from an already read label. */
  static predictSentence(concept: Concept, tokens: readonly string[]): number[] {
    const { words, wordOfToken } = sentenceWords(tokens);
    const values = words.map((w) => Math.round(SIMULATION_MAX * covers(concept, w) * 100) / 100);
    return wordOfToken.map((w) => (w < 0 ? 0 : values[w]!));
  }

  async simulate(label: string, sentences: string[][]): Promise<number[][]> {
    const concept = readLabel(label);
    return sentences.map((s) => EmbeddedSimulator.predictSentence(concept, s));
  }
}
