// The steps that ask whether the labels are the neurons: substitution of a layer's groups of neurons by their labels'
// simulations (interp/faithfulness.ts), the whole network on its labels alone, and what the controls need: labels
// drawn at random from the explainer's concept vocabulary, labels re-dealt among neurons (alignment to permuted
// labels), and a randomly initialised network of the model's shape.
import { InvalidInputError } from '../data/errors';
import { difference, fractionOf, measureSubstitution, substitutedActivations, unigramLosses, unitMeans, type Faithfulness } from '../interp/faithfulness';
import { readLabels, readSimulations } from '../llm/artifacts';
import { randomConceptLabels } from '../llm/embedded/explainer';
import { initBackend } from '../nn/backend';
import { createModel, predictedTokens, type Intervention, type LanguageModel } from '../nn/language-model';
import { recordLayer, tokenLosses } from '../nn/train';
import { BOOTSTRAP_SEED, perSentence, ratioEstimate, sentenceLengths, type Estimate } from '../stats/bootstrap';
import type { ArtifactRef } from '../store/artifacts';
import type { StepContext } from './context';

/** The network on its labels alone: losses on the score text and the share of the base model's advantage kept. */
export interface LabelsAloneFigures {
  /** Every processed layer's legible neurons substituted and its free neurons mean-ablated at once. */
  labelsAloneLoss: Estimate;
  finalLoss: Estimate;
  baseLoss: Estimate;
  /** A unigram predictor (training-text word frequencies): the floor. */
  unigramLoss: Estimate;
  /** (L_unigram − L_labels alone) / (L_unigram − L_base): 1 = the labels carry all the base model knows, 0 = nothing beyond word frequencies; NaN where the base model does not measurably beat the unigram predictor. */
  survivingShare: Estimate;
  /** The same share for the final model itself (nothing substituted). */
  finalShare: Estimate;
}


export function faithfulnessSteps({ store, once, loadCorpus, loadModel, saveModel, examplesOf }: StepContext) {
  /** A layer's activations on the select text, where substitution lines are fitted and means taken. */
  async function onSelectText(model: LanguageModel, corpus: Awaited<ReturnType<typeof loadCorpus>>, depth: number) {
    const select = examplesOf(corpus, model.spec, 'select');
    const acts = await recordLayer(model, select, depth);
    const width = model.spec.hidden[depth]!.width;
    return { width, tokens: acts.length / width, acts };
  }

  /**
   * The substituted activations of a layer's units on the score text ([tokens × units]): each unit's label's
   * simulation there, mapped by the line fitted on the select text (the model's activations there against the
   * label's simulation there). `fit` and `simulations`: the simulations on the select and on the score text.
   */
  async function substitutionOnScore(select: Awaited<ReturnType<typeof onSelectText>>, scoreTokens: number, units: number[], fit: ArtifactRef[], simulations: ArtifactRef[]): Promise<Float32Array> {
    const fitted = { activations: select.acts, width: select.width, simulations: await readSimulations(store, fit, select.tokens) };
    return substitutedActivations(units, fitted, await readSimulations(store, simulations, scoreTokens), scoreTokens);
  }

  return {
    /**
     * Substitution on the score text for each named group of a layer's units: the task loss clean, with the group's
     * activations replaced by their labels' simulations (mapped to each neuron's scale by a least-squares line fitted
     * on the select text, never on the score text), held at zero, and held at their means on the select text, and
     * the recovered fractions (interp/faithfulness.ts). `fit` and `simulations`: the labels' simulations on the
     * select and the score text.
     */
    async substituteLabels(input: { corpus: ArtifactRef; model: ArtifactRef; layer: string; groups: Record<string, number[]>; fit: ArtifactRef[]; simulations: ArtifactRef[] }): Promise<{ groups: Record<string, Faithfulness>; backend: string; reused: boolean }> {
      return once('substituteLabels', input, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const model = await loadModel(input.model);
        try {
          const depth = model.depthOf(input.layer);
          const select = await onSelectText(model, corpus, depth);
          const score = examplesOf(corpus, model.spec, 'score');
          const groups: Record<string, Faithfulness> = {};
          for (const [name, units] of Object.entries(input.groups)) {
            const rows = await substitutionOnScore(select, predictedTokens(score), units, input.fit, input.simulations);
            groups[name] = await measureSubstitution(model, score, { depth, units, rows, means: unitMeans(select.acts, select.width, units) });
          }
          return { groups, backend };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * The network on its labels alone: every listed layer's legible neurons substituted by their labels' simulations
     * and its free neurons held at their means, all at once, on the score text; against the final model, the base
     * model and a unigram predictor (see LabelsAloneFigures).
     */
    async runOnLabelsAlone(input: { corpus: ArtifactRef; model: ArtifactRef; base: ArtifactRef; layers: { layer: string; legible: number[]; fit: ArtifactRef[]; simulations: ArtifactRef[] }[] }): Promise<LabelsAloneFigures & { backend: string; reused: boolean }> {
      return once('runOnLabelsAlone', input, async () => {
        const backend = await initBackend();
        const corpus = await loadCorpus(input.corpus);
        const model = await loadModel(input.model);
        const base = await loadModel(input.base);
        try {
          const score = examplesOf(corpus, model.spec, 'score');
          const interventions: Intervention[] = [];
          for (const l of input.layers) {
            const depth = model.depthOf(l.layer);
            const legible = new Set(l.legible);
            const free = Array.from({ length: model.spec.hidden[depth]!.width }, (_, u) => u).filter((u) => !legible.has(u));
            const select = await onSelectText(model, corpus, depth);
            interventions.push(
              { depth, units: l.legible, rows: await substitutionOnScore(select, predictedTokens(score), l.legible, l.fit, l.simulations) },
              { depth, units: free, values: unitMeans(select.acts, select.width, free) },
            );
          }
          const onLabels = (await tokenLosses(model, score, interventions)).losses;
          const final = (await tokenLosses(model, score)).losses;
          const baseLosses = (await tokenLosses(base, score)).losses;
          const train = examplesOf(corpus, model.spec, 'train');
          const unigram = unigramLosses(train.targets, model.spec.vocabularySize, score);
          const tokens = sentenceLengths(score.starts);
          const loss = (l: Float32Array) => ratioEstimate(perSentence(l, score.starts), tokens, BOOTSTRAP_SEED);
          // A share of nothing is no figure: NaN where the base model does not measurably beat the unigram predictor.
          const advantage = perSentence(difference(unigram, baseLosses), score.starts);
          const advantagePerToken = ratioEstimate(advantage, tokens, BOOTSTRAP_SEED);
          const share = (l: Float32Array) => fractionOf(perSentence(difference(unigram, l), score.starts), advantage, advantagePerToken);
          return {
            labelsAloneLoss: loss(onLabels),
            finalLoss: loss(final),
            baseLoss: loss(baseLosses),
            unigramLoss: loss(unigram),
            survivingShare: share(onLabels),
            finalShare: share(final),
            backend,
          };
        } finally {
          model.dispose();
          base.dispose();
        }
      });
    },

    /** Labels of concepts drawn at random from the explainer's concept vocabulary, one per unit: the random-label floor. */
    async drawRandomLabels(input: { units: number[]; seed: number }) {
      return once('drawRandomLabels', input, async () => {
        const labels = randomConceptLabels(input.units.length, input.seed);
        return { labels: await store.putJson('labels', input.units.map((unit, i) => ({ unit, label: labels[i]! }))) };
      });
    },

    /** Labels re-dealt among units: each [unit, source] pair gives the unit the source's label (alignment to permuted labels). */
    async permuteLabels(input: { labels: ArtifactRef[]; pairs: [number, number][] }) {
      return once('permuteLabels', input, async () => {
        const labels = await readLabels(store, input.labels);
        const missing = input.pairs.filter(([, source]) => !labels.has(source)).map(([, source]) => source);
        if (missing.length > 0) throw new InvalidInputError(`permuteLabels: units ${missing.join(', ')} have no label`);
        return { labels: await store.putJson('labels', input.pairs.map(([unit, source]) => ({ unit, label: labels.get(source)! }))) };
      });
    },

    /** A randomly initialised network of a model's shape (the random-model control), untrained. */
    async initialiseRandomModel(input: { model: ArtifactRef; seed: number }) {
      return once('initialiseRandomModel', input, async () => {
        const backend = await initBackend();
        const shape = await loadModel(input.model);
        const spec = shape.spec;
        shape.dispose();
        const model = createModel(spec, input.seed);
        try {
          return await saveModel(model, { seconds: 0, steps: 0, samplesPerSecond: 0, taskLoss: NaN }, backend);
        } finally {
          model.dispose();
        }
      });
    },
  };
}
