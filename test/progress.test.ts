// Progress lines from heartbeat details: training, dictionary epochs and explained units.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeHeartbeat } from '../cli/progress';

describe('progress', () => {
  it('describes a training step from its heartbeat', () => {
    const p = describeHeartbeat('alignLegibleNeurons', { epoch: 2, epochs: 8, step: 99, steps: 400, taskLoss: 3.14159, alignLoss: 0.25 });
    assert.equal(p.fraction, 0.25);
    assert.equal(p.text, 'alignLegibleNeurons epoch 3/8, step 100/400, loss 3.142, alignment 0.250');
  });

  it('describes dictionary epochs and explained units', () => {
    assert.deepEqual(describeHeartbeat('learnDictionary', { epoch: 4, epochs: 10, loss: 0.12345 }), { fraction: 0.5, text: 'learnDictionary epoch 5/10, loss 0.1235' });
    assert.deepEqual(describeHeartbeat('explainNeurons', { unitsExplained: 8, units: 32 }), { fraction: 0.25, text: 'explainNeurons 8/32 units explained' });
    assert.deepEqual(describeHeartbeat('scoreExplanations', {}), { text: 'scoreExplanations' });
  });
});
