// The embedded simulator: predicts a unit's activation (0 to 10) on each token from its label text alone, by reading
// the label into WordNet-grounded concepts (labels.ts) and grading how far they cover each token's word in its
// sentence (concepts.ts; tokens are matched as words: words.ts). Deterministic, no network.
import { SIMULATION_MAX, type Simulator } from '../types';
import { coverage } from './concepts';
import { readLabel } from './labels';
import { sentenceWords } from './words';

export class EmbeddedSimulator implements Simulator {
  readonly name = 'embedded';

  async simulate(label: string, sentences: string[][]): Promise<number[][]> {
    const concept = readLabel(label);
    const parsed = sentences.map(sentenceWords);
    // Every token's word, across all sentences, so each distinct word is covered once.
    const tokenWords = parsed.flatMap((s) => s.wordOfToken.map((w) => (w < 0 ? undefined : s.words[w])));
    const values = coverage(concept, tokenWords);
    let k = 0;
    return sentences.map((s) => s.map(() => Math.round(SIMULATION_MAX * values[k++]! * 100) / 100));
  }
}
