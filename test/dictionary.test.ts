// Dictionary learning on a polysemantic layer built from real corpus words: four unrelated word sets (WordNet
// categories) lie in superposition on two neurons, so each neuron is driven by several sets at different strengths.
// The sparse autoencoder's features are explained and scored like neurons, and score higher than the neurons they
// came from.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { wordNetSentences } from '../data/corpus';
import { Rng } from '../data/rng';
import { unitRecords, type LayerActivations } from '../interp/records';
import { mean, scoreUnit } from '../interp/scoring';
import { alone, covers } from '../llm/embedded/concepts';
import { EmbeddedExplainer } from '../llm/embedded/explainer';
import { EmbeddedSimulator } from '../llm/embedded/simulator';
import { initBackend } from '../nn/backend';
import { trainDictionary, type DictionaryCheckpoint } from '../nn/dictionary';
import { parsePipeline } from '../pipelines/load';

const CONCEPTS = ['noun.animal', 'noun.food', 'noun.body', 'noun.plant'];
/** Concept c adds DIRECTIONS[c][j] to neuron j: directions 0°, 30°, 60° and 90° apart in the neurons' plane. */
const DIRECTIONS = [0, 30, 60, 90].map((deg) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]);

function layer(sentences: string[][], width: number, value: (word: string) => number[]): LayerActivations {
  const words = sentences.flat();
  const starts = Int32Array.from({ length: sentences.length + 1 }, (_, i) => sentences.slice(0, i).reduce((n, s) => n + s.length, 0));
  const activations = new Float32Array(words.length * width);
  words.forEach((w, k) => activations.set(value(w), k * width));
  return { width, activations, starts, words };
}

/** Explains every unit on `train` and scores its label on `held`, as the pipeline's steps do. */
async function explainAndScore(train: LayerActivations, held: LayerActivations): Promise<{ scores: number[]; labels: string[] }> {
  const explainer = new EmbeddedExplainer();
  const simulator = new EmbeddedSimulator();
  const scores: number[] = [];
  const labels: string[] = [];
  for (let unit = 0; unit < train.width; unit++) {
    const [e] = await explainer.explain([{ records: unitRecords(train, unit, 20, 20, 1) }]);
    const sentences = Array.from({ length: held.starts.length - 1 }, (_, i) => held.words.slice(held.starts[i]!, held.starts[i + 1]!));
    const sim = Float32Array.from((await simulator.simulate(e!.label, sentences)).flat());
    scores.push(scoreUnit(held, sim, unit, { top: 20, random: 20, seed: 2 }).topAndRandom);
    labels.push(e!.label);
  }
  return { scores, labels };
}

describe('dictionary learning', () => {
  let neurons: { train: LayerActivations; held: LayerActivations };

  before(async () => {
    await initBackend();
    const sentences = new Rng(5).sample(wordNetSentences().filter((s) => s.length >= 5 && s.length <= 20), 3000);
    const neuronValue = (w: string) => {
      const v = [0, 0];
      CONCEPTS.forEach((c, i) => {
        // A word of the set: its most frequent sense of some part of speech is in the category.
        if (covers({ kind: 'category', lexname: c }, alone(w)) === 1) DIRECTIONS[i]!.forEach((d, j) => (v[j] += d));
      });
      return v;
    };
    neurons = { train: layer(sentences.slice(0, 2000), 2, neuronValue), held: layer(sentences.slice(2000), 2, neuronValue) };
  });

  it('a dictionary resumed from an epoch checkpoint ends where an uninterrupted one ends', async () => {
    const settings = parsePipeline('name: d\nmodel: { hidden: [{ name: h, width: 2 }] }\ninterpretability: { dictionary: { expansion: 4, k: 1, epochs: 4 } }\n').interpretability.dictionary!;
    let saved: DictionaryCheckpoint | undefined;
    const whole = await trainDictionary(neurons.train.activations, 2, settings, 3, undefined, { onCheckpoint: (c) => void (c.epoch === 2 && (saved = c)) });
    assert.ok(saved);
    const resumed = await trainDictionary(neurons.train.activations, 2, settings, 3, undefined, { resumeFrom: saved });
    // Bit for bit: the checkpoint keeps Adam's running beta powers, not just the iteration count.
    assert.deepEqual(resumed.sae.toBundle().arrays, whole.sae.toBundle().arrays);
    assert.equal(resumed.stats.fractionOfVarianceExplained, whole.stats.fractionOfVarianceExplained);
    whole.sae.dispose();
    resumed.sae.dispose();
  });

  it('features are explained better than the polysemantic neurons they came from', async () => {
    const settings = parsePipeline('name: d\nmodel: { hidden: [{ name: h, width: 3 }] }\ninterpretability: { dictionary: { expansion: 2, k: 1, epochs: 60, learningRate: 0.01 } }\n').interpretability.dictionary!;
    const { sae, stats } = await trainDictionary(neurons.train.activations, 2, settings, 1);
    assert.ok(stats.fractionOfVarianceExplained > 0.8, `variance explained ${stats.fractionOfVarianceExplained}`);
    assert.ok(stats.meanL0 <= 1 + 1e-9, `mean L0 ${stats.meanL0}`);
    const encode = (a: LayerActivations): LayerActivations => ({ ...a, width: stats.features, activations: sae.encodeAll(a.activations) });
    const features = { train: encode(neurons.train), held: encode(neurons.held) };
    sae.dispose();

    const neuronScores = (await explainAndScore(neurons.train, neurons.held)).scores;
    const featureResults = await explainAndScore(features.train, features.held);
    // Dead features fire on nothing and carry no label: the comparison is over the features that fire.
    const live = [...Array(stats.features).keys()].filter((f) => features.train.activations.some((v, k) => k % stats.features === f && v > 0));
    const featureMean = mean(live.map((f) => featureResults.scores[f]!));
    assert.ok(live.length >= CONCEPTS.length, `${live.length} live features`);
    assert.ok(
      featureMean > mean(neuronScores) + 0.05,
      `features ${featureMean.toFixed(3)} vs neurons ${mean(neuronScores).toFixed(3)}\n${live.map((f) => featureResults.labels[f]).join('\n')}`,
    );
  });
});
