// Substitution and the scorers beside correlation, on hand-made inputs whose answers are known: a simulation equal to
// the true activations recovers the clean loss, a constant one is mean ablation, shuffled labels score below the
// real ones, and detection, fuzzing and AUC match values computed by hand.
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { detectionScores, rocAuc } from '../interp/detection';
import { fitLine, measureSubstitution, substitutionRows, unitMeans } from '../interp/faithfulness';
import type { LayerActivations } from '../interp/records';
import { scoreUnit } from '../interp/scoring';
import { EmbeddedSimulator } from '../llm/embedded/simulator';
import { randomConceptLabels } from '../llm/embedded/explainer';
import { initBackend } from '../nn/backend';
import { MlpModel } from '../nn/mlp';
import { evaluate, recordLayer, train } from '../nn/train';
import { createActivities } from '../activities';
import { readLabels } from '../llm/artifacts';
import { directoryStore } from '../store/open';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derangement } from '../workflows/faithfulness';

const spec = { vocabularySize: 30, contextWords: 2, embeddingSize: 4, hidden: [{ name: 'h1', width: 6 }] };

/** Random windows with a learnable-ish target, cut into sentences of 5 tokens. */
function examples(n: number, seed: number) {
  const windows = tf.tidy(() => tf.randomUniform([n, 2], 0, 30, 'int32', seed).dataSync() as Int32Array);
  const targets = Int32Array.from({ length: n }, (_, i) => (windows[i * 2]! + windows[i * 2 + 1]!) % 30);
  return { inputs: windows, targets, starts: Int32Array.from({ length: n / 5 + 1 }, (_, i) => i * 5) };
}

describe('substitution', () => {
  before(async () => {
    await initBackend();
  });

  it('a simulation equal to the true activations recovers the clean loss (fraction 1); a constant one equals mean ablation', async () => {
    const model = MlpModel.create(spec, 3);
    try {
      const select = examples(400, 1);
      // Trained a little, so that its neurons matter (ablating them costs something to recover).
      await train(model, select, { epochs: 20, batchSize: 50, learningRate: 0.05, seed: 1, trainable: model.trainableVariables() });
      // Scored on the text it was trained on: what matters here is the arithmetic, and there ablation surely costs.
      const score = select;
      const width = 6;
      const units = [0, 2, 5];
      const actsSelect = await recordLayer(model, select, 0);
      const actsScore = await recordLayer(model, score, 0);
      const column = (acts: Float32Array, u: number) => Float32Array.from({ length: acts.length / width }, (_, k) => acts[k * width + u]!);
      const means = unitMeans(actsSelect, width, units);

      // The "label" predicts its neuron exactly (in simulation units, 0 to 10: a scale and an offset the line undoes).
      const exact = (acts: Float32Array, u: number) => column(acts, u).map((a) => 3 * a + 1);
      const lines = units.map((u) => fitLine(exact(actsSelect, u), actsSelect, width, u));
      for (const l of lines) {
        assert.ok(Math.abs(l.slope - 1 / 3) < 1e-4 && Math.abs(l.intercept + 1 / 3) < 1e-4, `line ${JSON.stringify(l)}`);
      }
      const rows = substitutionRows(units.map((u) => exact(actsScore, u)), lines, 400);
      const f = await measureSubstitution(model, score, { depth: 0, units, rows, means });
      assert.ok(Math.abs(f.substitutedLoss.value - f.cleanLoss.value) < 1e-5, `substituted ${f.substitutedLoss.value} vs clean ${f.cleanLoss.value}`);
      assert.ok(Math.abs(f.recoveredVsMean.value - 1) < 1e-3 && Math.abs(f.recoveredVsZero.value - 1) < 1e-3, JSON.stringify(f));

      // A constant simulation: the line is the mean, so substitution is mean ablation (recovered 0 against it).
      const constant = units.map(() => new Float32Array(400).fill(7));
      const flat = units.map((u, j) => fitLine(constant[j]!, actsSelect, width, u));
      flat.forEach((l, j) => assert.ok(l.slope === 0 && Math.abs(l.intercept - means[j]!) < 1e-6));
      const g = await measureSubstitution(model, score, { depth: 0, units, rows: substitutionRows(units.map(() => new Float32Array(400).fill(7)), flat, 400), means });
      assert.ok(Math.abs(g.substitutedLoss.value - g.meanAblatedLoss.value) < 1e-6);
      assert.ok(Math.abs(g.recoveredVsMean.value) < 1e-4);
      assert.notEqual(g.meanAblatedLoss.value, g.cleanLoss.value);
    } finally {
      model.dispose();
    }
  });
});

describe('substitution-aware retraining', () => {
  before(async () => {
    await initBackend();
  });

  it('trains the layers above to run on the substituted values (alignment.mode substitute)', async () => {
    const two = { ...spec, hidden: [{ name: 'h1', width: 6 }, { name: 'h2', width: 6 }] };
    const data = examples(600, 5);
    const units = [0, 1, 2];
    // What the labels would say: values that carry the next word (which the neurons' own values carry only in part).
    const rows = Float32Array.from({ length: 600 * units.length }, (_, i) => {
      const t = data.targets[Math.floor(i / units.length)]!;
      return [t / 30, (t % 5) / 5, (t % 6) / 6][i % units.length]! * 4;
    });
    const substituted = [{ depth: 0, units, rows }];
    const trained = async (withSubstitution: boolean) => {
      const model = MlpModel.create(two, 8);
      model.freezeThrough(0);
      await train(model, data, { epochs: 3, batchSize: 64, learningRate: 0.01, seed: 2, trainable: model.trainableVariables(), ...(withSubstitution ? { substitution: { depth: 0, units, rows } } : {}) });
      const loss = (await evaluate(model, data, substituted)).loss;
      model.dispose();
      return loss;
    };
    const aware = await trained(true);
    const unaware = await trained(false);
    assert.ok(aware < unaware - 0.1, `with the substitution in training ${aware}, without ${unaware}`);
  });
});

describe('controls', () => {
  it('permuted labels give every unit another unit\'s label', async () => {
    const store = directoryStore(mkdtempSync(join(tmpdir(), 'legible-permute-')));
    const labels = await store.putJson('labels', [0, 1, 2, 3].map((unit) => ({ unit, label: `label ${unit}` })));
    const pairs = derangement([0, 2, 3], 5);
    const out = await createActivities(store).permuteLabels({ labels: [labels], pairs });
    const permuted = await readLabels(store, [out.labels]);
    assert.deepEqual([...permuted.keys()].sort(), [0, 2, 3]);
    for (const [unit, source] of pairs) assert.equal(permuted.get(unit), `label ${source}`);
    assert.ok([...permuted].every(([unit, label]) => label !== `label ${unit}`));
  });

  it('labels shuffled among neurons with distinct labels score below the real labels', async () => {
    // Six neurons, each firing on its own word.
    const words = ['dog', 'river', 'seven', 'blue', 'quickly', 'mother'];
    const fillers = ['the', 'a', 'of', 'and', 'on'];
    const sentences: string[][] = [];
    for (let s = 0; s < 60; s++) sentences.push([fillers[s % 5]!, words[s % 6]!, fillers[(s + 2) % 5]!, words[(s * 5 + 1) % 6]!]);
    const tokens = sentences.flat();
    const width = words.length;
    const activations = new Float32Array(tokens.length * width);
    tokens.forEach((t, k) => {
      const u = words.indexOf(t);
      if (u >= 0) activations[k * width + u] = 1;
    });
    const truth: LayerActivations = { width, activations, starts: Int32Array.from({ length: 61 }, (_, i) => i * 4), words: tokens };
    const simulator = new EmbeddedSimulator();
    const simulations = await Promise.all(words.map(async (w) => Float32Array.from((await simulator.simulate(`the word "${w}"`, sentences)).flat())));
    const units = words.map((_, u) => u);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const score = (sourceOf: (u: number) => number) => mean(units.map((u) => scoreUnit(truth, simulations[sourceOf(u)]!, u, { top: 5, random: 10, seed: 1 }).topAndRandom));
    const pairs = new Map(derangement(units, 4));
    assert.equal(pairs.size, units.length);
    for (const [u, source] of pairs) assert.notEqual(u, source, 'nobody keeps its own label');
    const real = score((u) => u);
    const shuffled = score((u) => pairs.get(u)!);
    assert.ok(real > 0.99, `real ${real}`);
    assert.ok(shuffled < real - 0.3, `shuffled ${shuffled} vs real ${real}`);
  });

  it('random labels are readable concepts, seeded', () => {
    const a = randomConceptLabels(5, 1);
    assert.deepEqual(a, randomConceptLabels(5, 1));
    assert.equal(new Set(a).size, 5);
    assert.ok(a.every((l) => l.length > 3 && !l.includes('"')), a.join(' | '));
  });
});

describe('detection and fuzzing', () => {
  it('give the values computed by hand', () => {
    // Five sentences of three tokens. The neuron fires (≥ 5 of its maximum 10) in sentences 0, 2 and 4.
    const acts = [0, 10, 0, /**/ 0, 0, 0, /**/ 8, 0, 0, /**/ 0, 0, 1, /**/ 0, 6, 0];
    const sims = [0, 10, 0, /**/ 0, 0, 0, /**/ 0, 0, 0, /**/ 0, 10, 0, /**/ 0, 10, 0];
    const truth: LayerActivations = { width: 1, activations: Float32Array.from(acts), starts: Int32Array.from([0, 3, 6, 9, 12, 15]), words: acts.map((_, k) => `w${k}`) };
    const s = detectionScores(truth, Float32Array.from(sims), 0, 1);
    // Detection: fires [T, F, T, F, T], predicted [T, F, F, T, T]: TPR 2/3, TNR 1/2.
    assert.ok(Math.abs(s.detection - (2 / 3 + 1 / 2) / 2) < 1e-12, `detection ${s.detection}`);
    // Fuzzing: correct highlights judged right in sentences 0 and 4, not 2 (TPR 2/3); every wrong highlight falls on
    // a token simulated 0 and is rejected (TNR 1).
    assert.ok(Math.abs(s.fuzzing - (2 / 3 + 1) / 2) < 1e-12, `fuzzing ${s.fuzzing}`);
    // AUC: positives simulated 10, 0, 10; negatives eleven 0s and one 10: (11.5 + 5.5 + 11.5) / 36.
    assert.ok(Math.abs(s.auc - 28.5 / 36) < 1e-12, `auc ${s.auc}`);
  });

  it('AUC is 1 for a perfect ranking, 0.5 for a constant one, and undefined without both classes', () => {
    assert.equal(rocAuc([0.1, 0.9, 0.2, 0.8], [false, true, false, true]), 1);
    assert.equal(rocAuc([3, 3, 3, 3], [false, true, false, true]), 0.5);
    assert.ok(Number.isNaN(rocAuc([1, 2], [true, true])));
  });
});
