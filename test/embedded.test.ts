// The embedded explainer and simulator on hand-made activation records of real words.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ActivationRecord } from '../interp/records';
import { pearson } from '../interp/scoring';
import { EmbeddedExplainer } from '../llm/embedded/explainer';
import { EmbeddedSimulator } from '../llm/embedded/simulator';

const explainer = new EmbeddedExplainer();
const simulator = new EmbeddedSimulator();

function records(sentences: string[][], fires: (w: string) => boolean): ActivationRecord[] {
  return sentences.map((tokens) => ({ tokens, activations: tokens.map((w) => (fires(w) ? 3 + w.length / 10 : 0)) }));
}

const split = (s: string) => s.split(' ');

describe('embedded explainer and simulator', () => {
  const ANIMALS = new Set(['dog', 'horse', 'cat', 'cows', 'bird', 'fish', 'lion', 'goat']);
  const animalTop = records(
    ['the dog chased the cat', 'a horse pulled the cart', 'cows graze on grass', 'the bird sang in the tree', 'a lion and a goat', 'a fish swam past'].map(split),
    (w) => ANIMALS.has(w),
  );
  const animalRandom = records(['he wrote a long letter', 'the car stopped at the light', 'she played music all day', 'rain fell on the roof'].map(split), () => false);

  it('labels an animal neuron with readable text about animals', async () => {
    const [e] = await explainer.explain([{ records: { unit: 3, top: animalTop, random: animalRandom } }]);
    assert.equal(e!.unit, 3);
    assert.match(e!.label, /animal/);
    assert.match(e!.label, /e\.g\. "/);
  });

  it('never names the unknown word or a sentence boundary in a label', async () => {
    const top = records(['the <unk> of a <unk>', 'a <unk> tree', 'a large <unk> house'].map(split), (w) => w === '<unk>');
    const onlyUnk = await explainer.explain([{ records: { unit: 1, top, random: [] } }]);
    assert.doesNotMatch(onlyUnk[0]!.label, /<unk>|<s>|<\/s>/);
    const mixed = records(['the <unk> dog ran', 'a <unk> horse', 'the cat and <unk>'].map(split), (w) => w === '<unk>' || ANIMALS.has(w));
    const [e] = await explainer.explain([{ records: { unit: 2, top: mixed, random: animalRandom } }]);
    assert.doesNotMatch(e!.label, /<unk>/);
  });

  it('the simulator turns that label alone into high activations on unseen animal words', async () => {
    const [e] = await explainer.explain([{ records: { unit: 0, top: animalTop, random: animalRandom } }]);
    const unseen = [split('the elephant and the sheep ate'), split('a wolf chased two rabbits'), split('the table is made of oak')];
    const sim = await simulator.simulate(e!.label, unseen);
    const at = (i: number, w: string) => sim[i]![unseen[i]!.indexOf(w)];
    for (const [i, w] of [[0, 'elephant'], [0, 'sheep'], [1, 'wolf'], [1, 'rabbits']] as const) assert.equal(at(i, w), 10, w);
    for (const [i, w] of [[0, 'the'], [0, 'ate'], [1, 'chased'], [2, 'table'], [2, 'oak']] as const) assert.equal(at(i, w), 0, w);
  });

  it('labels a function-word neuron by its words', async () => {
    const fires = (w: string) => w === 'of' || w === 'in';
    const top = records(['the top of the hill', 'a man in a boat', 'the end of the day', 'water in the glass'].map(split), fires);
    const random = records(['she sang a song', 'dogs bark loudly'].map(split), fires);
    const [e] = await explainer.explain([{ records: { unit: 0, top, random } }]);
    assert.match(e!.label, /"of"/);
    assert.match(e!.label, /"in"/);
    const [sim] = await simulator.simulate(e!.label, [split('most of them live in towns')]);
    assert.deepEqual(sim, [0, 10, 0, 0, 10, 0]);
  });

  it('labels a neuron that fires on an ending with that ending', async () => {
    const fires = (w: string) => w.endsWith('ing');
    const top = records(['running and jumping', 'the singing bird', 'a moving car was passing', 'reading books', 'swimming pools'].map(split), fires);
    const random = records(['the house is red', 'she ate an apple', 'we sat down'].map(split), fires);
    const [e] = await explainer.explain([{ records: { unit: 0, top, random } }]);
    assert.match(e!.label, /ending in "-ing"/);
  });

  it('a dead neuron gets a label that simulates to nothing', async () => {
    const [e] = await explainer.explain([{ records: { unit: 0, top: records([split('nothing here')], () => false), random: [] } }]);
    const [sim] = await simulator.simulate(e!.label, [split('the dog ran')]);
    assert.deepEqual(sim, [0, 0, 0]);
  });

  it('simulates labels written by a person', async () => {
    const sentence = split('dogs and trucks and teachers of music');
    const cases: [string, number[]][] = [
      ['animals', [10, 0, 0, 0, 0, 0, 0]],
      ['vehicles', [0, 0, 10, 0, 0, 0, 0]],
      ['words for people', [0, 0, 0, 0, 10, 0, 0]],
      ['the word "of"', [0, 0, 0, 0, 0, 10, 0]],
    ];
    for (const [label, expected] of cases) assert.deepEqual((await simulator.simulate(label, [sentence]))[0], expected, label);
  });

  it('its own labels score well against the activations they were made from', async () => {
    const [e] = await explainer.explain([{ records: { unit: 0, top: animalTop, random: animalRandom } }]);
    const all = [...animalTop, ...animalRandom];
    const sim = (await simulator.simulate(e!.label, all.map((r) => r.tokens))).flat();
    assert.ok(pearson(all.flatMap((r) => r.activations), sim) > 0.9);
  });
});
