// The shape of a label: a concept or a bare word list, and how many words it lists (not its examples).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelShape } from '../llm/label-shape';

describe('label shape', () => {
  it('counts listed words, not the examples after "e.g." or "such as"', () => {
    assert.deepEqual(labelShape('words for animals, e.g. "cat", "dog", "horse"'), { concept: true, listedWords: 0 });
    assert.deepEqual(labelShape('colors such as "red" and "blue"'), { concept: true, listedWords: 0 });
    assert.deepEqual(labelShape('the words "to", "of" and "in"'), { concept: false, listedWords: 3 });
    assert.deepEqual(labelShape('prepositions or the words "a" and "b"'), { concept: true, listedWords: 2 });
    assert.deepEqual(labelShape('never active on these examples'), { concept: false, listedWords: 0 });
  });
});
