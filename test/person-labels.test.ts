// The embedded simulator on labels written by people: for each case of test/fixtures/person-labels.ts, the true
// explanation must score above all three false ones (pooled correlation over every token of the records). The
// number of cases won only goes up: raise WON when the simulator reads more of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pearson } from '../interp/scoring';
import { EmbeddedSimulator } from '../llm/embedded/simulator';
import { PERSON_LABELS, type LabelCase } from './fixtures/person-labels';

/** Cases the true label wins today (of PERSON_LABELS.length). */
const WON = 59;

async function score(simulator: EmbeddedSimulator, c: LabelCase, label: string): Promise<number> {
  const simulated = await simulator.simulate(label, c.records.map((r) => r.tokens));
  return pearson(c.records.flatMap((r) => r.activations), simulated.flat());
}

describe('person-written labels', () => {
  it(`the test set has at least 40 cases over at least 10 kinds`, () => {
    assert.ok(PERSON_LABELS.length >= 40, `${PERSON_LABELS.length} cases`);
    assert.ok(new Set(PERSON_LABELS.map((c) => c.kind)).size >= 10);
    for (const c of PERSON_LABELS) assert.ok(c.records.every((r) => r.tokens.length === r.activations.length), c.name);
  });

  it(`the true explanation wins at least ${WON} cases`, async () => {
    const simulator = new EmbeddedSimulator();
    const lost: string[] = [];
    let won = 0;
    for (const c of PERSON_LABELS) {
      const truth = await score(simulator, c, c.truth);
      const wrong = await Promise.all(c.wrong.map((w) => score(simulator, c, w)));
      if (wrong.every((w) => truth > w)) won++;
      else lost.push(`${c.kind}/${c.name}: "${c.truth}" ${truth.toFixed(2)} vs ${c.wrong.map((w, i) => `"${w}" ${wrong[i]!.toFixed(2)}`).join(', ')}`);
    }
    console.log(`person-written labels: the true explanation wins ${won} of ${PERSON_LABELS.length}`);
    if (process.env.LEGIBLE_SHOW_LOST) console.log(lost.join('\n'));
    assert.ok(won >= WON, `won ${won}, below ${WON}:\n${lost.join('\n')}`);
  });
});
