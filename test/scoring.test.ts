// Scoring: Pearson correlation on known vectors, and the top-and-random / random-only scores of a unit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LayerActivations } from '../interp/records';
import { unitRecords } from '../interp/records';
import { pearson, scoreUnit } from '../interp/scoring';

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);
}

describe('scoring', () => {
  it('pearson matches known values', () => {
    close(pearson([1, 2, 3], [2, 4, 6]), 1);
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
    close(pearson([1, 2, 3, 4], [1, 3, 2, 4]), 0.8);
    close(pearson([0, 0, 1, 1], [0, 1, 0, 1]), 0);
  });

  it('a constant simulation or activation scores 0, not NaN', () => {
    assert.equal(pearson([1, 2, 3], [5, 5, 5]), 0);
    assert.equal(pearson([0, 0, 0], [1, 2, 3]), 0);
    assert.equal(pearson([], []), 0);
  });

  it('rejects vectors of different lengths', () => {
    assert.throws(() => pearson([1, 2], [1]), /lengths differ/);
  });

  // Three sentences, one unit: it fires on "dog" only.
  const words = ['the', 'dog', 'ran', 'a', 'cat', 'sat', 'my', 'dog', 'slept'];
  const acts: LayerActivations = {
    width: 1,
    activations: Float32Array.from(words, (w) => (w === 'dog' ? 4 : 0)),
    starts: Int32Array.from([0, 3, 6, 9]),
    words,
  };

  it('scores a perfect simulation 1 and a wrong one below 0', () => {
    const perfect = Float32Array.from(words, (w) => (w === 'dog' ? 10 : 0));
    const wrong = Float32Array.from(words, (w) => (w === 'cat' ? 10 : 0));
    const s = scoreUnit(acts, perfect, 0, { top: 1, random: 2, seed: 1 });
    close(s.topAndRandom, 1);
    close(s.randomOnly, 1);
    assert.ok(scoreUnit(acts, wrong, 0, { top: 1, random: 2, seed: 1 }).topAndRandom < 0);
  });

  it('records hold the top-activating sentences first and disjoint random ones', () => {
    const r = unitRecords(acts, 0, 1, 2, 1);
    assert.equal(r.top.length, 1);
    assert.equal(Math.max(...r.top[0]!.activations), 4);
    assert.equal(r.random.length, 2);
    assert.ok(r.random.every((x) => x !== r.top[0]));
  });
});
