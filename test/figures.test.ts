// The figures a reviewer reads: before and after scored on the same tokens, clean splits, mean ablation, bootstrap
// intervals that cover as they claim, the choice of legible neurons, and the optimal assignment of dictionary features.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createActivities } from '../activities';
import { buildCorpus, sentence, type Corpus } from '../data/corpus';
import { Rng } from '../data/rng';
import { selectSentences, type LayerActivations } from '../interp/records';
import { groupAllTokens, pearson, scoreUnit, sentenceSums, type UnitScore } from '../interp/scoring';
import { initBackend } from '../nn/backend';
import { MlpModel } from '../nn/mlp';
import { evaluate, recordLayer } from '../nn/train';
import { parsePipeline } from '../pipelines/load';
import { meanEstimate, ratioEstimate } from '../stats/bootstrap';
import { directoryStore } from '../store/open';
import { pickLegibleUnits } from '../workflows/pipeline';
import { readFileSync } from 'node:fs';

/** A layer of one unit over `sentences` sentences of `length` tokens with the given activations. */
function layer(values: number[], length: number): LayerActivations {
  const n = values.length / length;
  return { width: 1, activations: Float32Array.from(values), starts: Int32Array.from({ length: n + 1 }, (_, i) => i * length), words: values.map((_, k) => `w${k}`) };
}

describe('figures', () => {
  before(async () => {
    await initBackend();
  });

  it('scores before and after alignment on the same tokens: sentences chosen from the activations before', () => {
    const rng = new Rng(3);
    const length = 5;
    const beforeActs = Array.from({ length: 60 * length }, () => Math.max(0, rng.next() - 0.7));
    // Alignment changed the neuron completely: it now fires elsewhere.
    const afterActs = beforeActs.map((_, k) => (k % 7 === 0 ? 1 : 0));
    const simulated = Float32Array.from(beforeActs, (_, k) => (k % 3 === 0 ? 10 : 0));
    const before = layer(beforeActs, length);
    const after = layer(afterActs, length);
    const o = { top: 4, random: 10, seed: 5 };
    const chosen = selectSentences(before, 0, o.top, o.random, o.seed);
    const tokens = (sentences: number[]) => sentences.flatMap((s) => Array.from({ length }, (_, j) => s * length + j));
    const expected = (acts: number[], sentences: number[]) => pearson(tokens(sentences).map((k) => acts[k]!), tokens(sentences).map((k) => simulated[k]!));
    const scored = scoreUnit(after, simulated, 0, { ...o, chooseFrom: before });
    assert.equal(scored.topAndRandom, expected(afterActs, [...chosen.top, ...chosen.random]));
    assert.equal(scored.randomOnly, expected(afterActs, chosen.random));
    assert.equal(scored.allTokens, pearson(afterActs, simulated));
    // Choosing anew from the activations after would have scored other tokens.
    const reselected = selectSentences(after, 0, o.top, o.random, o.seed);
    assert.notDeepEqual(reselected.top, chosen.top);
    assert.throws(() => scoreUnit(after, simulated, 0, { ...o, chooseFrom: layer(beforeActs.slice(0, 50), length) }), /other sentences/);
  });

  it('counts a simulation that is constant on the random sentences, and a near-constant scale is still a series', () => {
    const acts = layer([1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 5);
    assert.equal(scoreUnit(acts, new Float32Array(10), 0, { top: 1, random: 1, seed: 1 }).constantOnRandom, true);
    assert.equal(scoreUnit(acts, Float32Array.from([10, 0, 0, 0, 0, 10, 0, 0, 0, 0]), 0, { top: 0, random: 2, seed: 1 }).constantOnRandom, false);
    assert.ok(Math.abs(pearson([0, 1e-6, 2e-6], [0, 1, 2]) - 1) < 1e-9, 'small activations are not constant');
    assert.equal(pearson([5, 5, 5], [0, 1, 2]), 0);
  });

  it('deduplicates sentences before splitting: no held-out sentence appears in the training text, as the model reads it', () => {
    const text = readFileSync(join(__dirname, '..', 'pipelines', 'demo.yaml'), 'utf8');
    const corpus = buildCorpus(parsePipeline(text, 'demo.yaml'));
    const words = (c: Corpus, i: number) => [...sentence(c, i)].join(' ');
    const training = new Set([...corpus.splits.train].map((i) => words(corpus, i)));
    for (const split of ['heldOut', 'select', 'score'] as const) {
      const leaked = [...corpus.splits[split]].filter((i) => training.has(words(corpus, i)));
      assert.equal(leaked.length, 0, `${leaked.length} ${split} sentences also appear in the training text`);
    }
    const heldOut = new Set([...corpus.splits.heldOut].map((i) => words(corpus, i)));
    assert.equal(heldOut.size, corpus.splits.heldOut.length, 'the held-out sentences are distinct');
    assert.ok(corpus.meta.heldOutRepeats! > 0, 'WordNet repeats itself: some held-out sentences were dropped');
  });

  it('mean ablation of a neuron that is constant equals the clean loss; zero ablation does not', async () => {
    const spec = { vocabularySize: 40, contextWords: 2, embeddingSize: 4, hidden: [{ name: 'h1', width: 5 }] };
    const model = MlpModel.create(spec, 4);
    try {
      // Neuron 2 gets no input and a bias of 0.7: it is 0.7 on every token.
      const l = model.layers[0]!;
      l.w.assign(tf.tidy(() => tf.mul(l.w, tf.tensor2d([1, 1, 0, 1, 1], [1, 5]))));
      l.b.assign(tf.tensor1d([0, 0, 0.7, 0, 0]));
      const windows = tf.tidy(() => tf.randomUniform([300, 2], 0, 40, 'int32', 9).dataSync() as Int32Array);
      const data = { inputs: windows, targets: Int32Array.from({ length: 300 }, (_, i) => (windows[i * 2]! + 3) % 40) };
      const acts = await recordLayer(model, data, 0);
      assert.ok(acts.filter((_, k) => k % 5 === 2).every((a) => Math.abs(a - 0.7) < 1e-6));
      const clean = (await evaluate(model, data)).loss;
      assert.ok(Math.abs((await evaluate(model, data, [{ depth: 0, units: [2], values: [0.7] }])).loss - clean) < 1e-6);
      assert.ok(Math.abs((await evaluate(model, data, [{ depth: 0, units: [2] }])).loss - clean) > 1e-4);
    } finally {
      model.dispose();
    }
  });

  it('95% bootstrap intervals cover the true value about 95% of the time', () => {
    const rng = new Rng(11);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const trials = 400;
    let meanCovered = 0;
    let ratioCovered = 0;
    for (let t = 0; t < trials; t++) {
      const xs = Array.from({ length: 60 }, () => 2 + normal());
      const m = meanEstimate(xs, t, 400);
      if (m.ci95[0] <= 2 && 2 <= m.ci95[1]) meanCovered++;
      // A ratio of sums, as a held-out loss is: sentences of 1 to 9 tokens, each token's loss with mean 3.
      const tokens = Array.from({ length: 60 }, () => 1 + rng.int(9));
      const losses = tokens.map((n) => Array.from({ length: n }, () => 3 + normal()).reduce((a, b) => a + b, 0));
      const r = ratioEstimate(losses, tokens, t, 400);
      if (r.ci95[0] <= 3 && 3 <= r.ci95[1]) ratioCovered++;
    }
    for (const [name, covered] of [['mean', meanCovered], ['ratio', ratioCovered]] as const) {
      const coverage = covered / trials;
      assert.ok(coverage > 0.9 && coverage < 0.985, `${name}: coverage ${coverage}`);
    }
  });

  it('a group\'s mean all-tokens score: the point value is the mean of its units\' scores, inside its interval', () => {
    const rng = new Rng(2);
    const truth: LayerActivations = { width: 3, activations: Float32Array.from({ length: 3 * 200 }, () => rng.next()), starts: Int32Array.from({ length: 41 }, (_, i) => i * 5), words: [] };
    const sims = [0, 1, 2].map((u) => Float32Array.from({ length: 200 }, (_, k) => truth.activations[k * 3 + u]! * (u + 1) + rng.next()));
    const sums = { sums: sims.map((s, u) => sentenceSums(truth, s, u)) };
    const e = groupAllTokens(sums, 1);
    const direct = sims.map((s, u) => pearson(Array.from({ length: 200 }, (_, k) => truth.activations[k * 3 + u]!), s));
    assert.ok(Math.abs(e.value - direct.reduce((a, b) => a + b, 0) / 3) < 1e-9);
    assert.ok(e.ci95[0] < e.value && e.value < e.ci95[1]);
    const none = groupAllTokens(sums, 1, sums);
    assert.equal(none.value, 0, 'a paired difference with itself is 0');
    assert.deepEqual(none.ci95, [0, 0]);
  });

  it('legible neurons: the best-explained or a seeded random subset, only with a positive selection score', () => {
    const scores: UnitScore[] = [0.5, -0.1, 0.3, 0, 0.9, 0.2, 0.4, 0.1].map((allTokens, unit) => ({ unit, allTokens, topAndRandom: 0, randomOnly: 0, constantOnRandom: false }));
    assert.deepEqual(pickLegibleUnits(scores, 3), [0, 4, 6]);
    assert.deepEqual(pickLegibleUnits(scores, 8), [0, 2, 4, 5, 6, 7], 'never a neuron scoring 0 or below');
    const random = pickLegibleUnits(scores, 3, 'random', 7);
    assert.equal(random.length, 3);
    assert.ok(random.every((u) => scores[u]!.allTokens > 0));
    assert.deepEqual(pickLegibleUnits(scores, 3, 'random', 7), random, 'the same seed draws the same subset');
    const draws = new Set(Array.from({ length: 20 }, (_, seed) => pickLegibleUnits(scores, 3, 'random', seed).join()));
    assert.ok(draws.size > 3, `${draws.size} different subsets from 20 seeds`);
  });

  it('assigns dictionary features to neurons by an optimal matching, never below the minimum correlation', async () => {
    const store = directoryStore(mkdtempSync(join(tmpdir(), 'legible-assign-')));
    const rng = new Rng(8);
    const n = 2000;
    const x = Array.from({ length: n }, () => rng.next());
    const y = Array.from({ length: n }, () => rng.next());
    const records = (columns: number[][]) => {
      const width = columns.length;
      const activations = new Float32Array(n * width);
      columns.forEach((c, u) => c.forEach((v, k) => (activations[k * width + u] = v)));
      return store.putBundle('activations', { meta: { width, split: 'select' }, arrays: { activations } });
    };
    // Feature 0 (the better explained) follows neuron 0 a little more than neuron 1; feature 1 is neuron 0 itself.
    // Greedy would give feature 0 neuron 0 and leave feature 1 with neuron 1 (correlation about 0): one pair.
    const f0 = x.map((v, k) => 1.1 * v + y[k]!);
    const labels = async (names: string[]) => [await store.putJson('labels', names.map((label, unit) => ({ unit, label })))];
    const acts = createActivities(store);
    const result = await acts.assignDictionaryFeatures({
      neuronRecords: await records([x, y]),
      featureRecords: await records([f0, x]),
      featureScores: [
        { unit: 0, allTokens: 0.8, topAndRandom: 0.8, randomOnly: 0.8, constantOnRandom: false },
        { unit: 1, allTokens: 0.5, topAndRandom: 0.5, randomOnly: 0.5, constantOnRandom: false },
      ],
      neuronLabels: await labels(['own 0', 'own 1']),
      featureLabels: await labels(['feature 0', 'feature 1']),
      count: 2,
      minCorrelation: 0.3,
    });
    assert.deepEqual(result.assignments.map((a) => [a.feature, a.neuron]), [[0, 1], [1, 0]]);
    assert.ok(result.assignments.every((a) => a.correlation >= 0.3));
    const strict = await acts.assignDictionaryFeatures({ neuronRecords: await records([x, y]), featureRecords: await records([f0, x]), featureScores: result.assignments.map((a) => ({ unit: a.feature, allTokens: a.featureScore, topAndRandom: 0, randomOnly: 0, constantOnRandom: false })), neuronLabels: await labels(['own 0', 'own 1']), featureLabels: await labels(['feature 0', 'feature 1']), count: 2, minCorrelation: 0.95 });
    assert.deepEqual(strict.assignments.map((a) => [a.feature, a.neuron]), [[1, 0]], 'only the pair above 0.95');
  });
});
