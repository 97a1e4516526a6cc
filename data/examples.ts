// Training and evaluation examples cut from a corpus's sentences, in the layout each model kind reads (see
// nn/language-model.ts): windows of previous tokens for the MLP, whole padded sequences for the transformer. Row k of
// every per-token array is the k-th token of the split, in split order, in both layouts.
import { BOS, EOS, sentence, type Corpus } from './corpus';

/** The start-of-sentence token pads sequences (as it pads the MLP's windows); padded positions have target -1. */
const PAD = BOS;

/**
 * Window examples: for every token of the split's sentences, inputs [n × context] are the ids of the last `context`
 * tokens up to and including it (padded with <s>), and targets [n] the id of the token that follows (</s> after the
 * last one).
 */
export function nextWordExamples(c: Corpus, split: Int32Array, context: number): { inputs: Int32Array; targets: Int32Array } {
  let n = 0;
  for (const i of split) n += c.offsets[i + 1]! - c.offsets[i]!;
  const inputs = new Int32Array(n * context);
  const targets = new Int32Array(n);
  let k = 0;
  for (const i of split) {
    const s = sentence(c, i);
    for (let t = 0; t < s.length; t++, k++) {
      for (let j = 0; j < context; j++) {
        const pos = t - context + 1 + j;
        inputs[k * context + j] = pos >= 0 ? s[pos]! : BOS;
      }
      targets[k] = t + 1 < s.length ? s[t + 1]! : EOS;
    }
  }
  return { inputs, targets };
}

/**
 * Sequence examples: one per sentence of the split, inputs [m × length] its token ids (padded at the end) and
 * targets [m × length] the next token at each position (</s> after the last token, -1 at padding). A sentence longer
 * than `length` is an error (the pipeline's corpus.maxTokens is checked against the context when it is validated).
 */
export function sequenceExamples(c: Corpus, split: Int32Array, length: number): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(split.length * length).fill(PAD);
  const targets = new Int32Array(split.length * length).fill(-1);
  split.forEach((i, row) => {
    const s = sentence(c, i);
    if (s.length > length) throw new Error(`sentence ${i} has ${s.length} tokens, more than the model's context of ${length}`);
    inputs.set(s, row * length);
    targets.set(s.subarray(1), row * length);
    targets[row * length + s.length - 1] = EOS;
  });
  return { inputs, targets };
}
