// Export files: model.safetensors read back by an independent reader written here from the format's specification
// (https://huggingface.co/docs/safetensors: u64 little-endian header size, JSON header, a byte buffer fully indexed
// without holes or overlaps), config.json, and the checks that keep a model from loading into a pipeline it does
// not fit.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { InvalidInputError } from '../data/errors';
import { initBackend } from '../nn/backend';
import { checkExportFits, readExportedModel, writeExportedModel } from '../nn/exported-model';
import { createModel, type TransformerSpec } from '../nn/language-model';

/** A safetensors reader from the specification alone: every tensor's dtype, shape and values, and the metadata. */
function readSafetensorsBySpec(bytes: Buffer) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  assert.ok(n < BigInt(bytes.length), 'header size within the file');
  const headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + Number(n)));
  assert.equal(headerText[0], '{', 'the header starts with {');
  const header = JSON.parse(headerText) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const start = 8 + Number(n);
  const buffer = bytes.length - start;
  const ranges: [number, number][] = [];
  const tensors = new Map<string, { dtype: string; shape: number[]; values: number[] }>();
  let metadata: Record<string, string> | undefined;
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as unknown as Record<string, string>;
      continue;
    }
    const [begin, end] = info.data_offsets;
    const count = info.shape.reduce((a, b) => a * b, 1);
    assert.equal(info.dtype, 'F32');
    assert.equal(end - begin, count * 4, `${name}: its bytes match its shape`);
    ranges.push([begin, end]);
    const values: number[] = [];
    for (let i = 0; i < count; i++) values.push(view.getFloat32(start + begin + 4 * i, true));
    tensors.set(name, { dtype: info.dtype, shape: info.shape, values });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [begin, end] of ranges) {
    assert.equal(begin, at, 'no hole or overlap in the byte buffer');
    at = end;
  }
  assert.equal(at, buffer, 'the byte buffer is entirely indexed');
  return { tensors, metadata };
}

const spec: TransformerSpec = {
  kind: 'transformer',
  vocabularySize: 12,
  contextTokens: 6,
  dModel: 8,
  heads: 2,
  dMlp: 5,
  layers: 2,
  activation: 'relu',
  hidden: [
    { name: 'mlp0', width: 5 },
    { name: 'mlp1', width: 5 },
  ],
};
const vocabulary = ['<s>', '</s>', '<unk>', ' the', ' river', ' bank', ',', '.', ' a', ' of', ' and', ' to'];

describe('export', () => {
  before(async () => {
    await initBackend();
  });

  it('writes a safetensors file any reader of the format reads back, and a config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-export-'));
    const model = createModel(spec, 3);
    try {
      model.freezeThrough(0);
      const layers = spec.hidden.map((h, depth) => ({ name: h.name, depth, width: h.width, processed: depth === 0, legible: depth === 0 ? [1, 3] : [], free: depth === 0 ? [0, 2, 4] : [0, 1, 2, 3, 4] }));
      writeExportedModel(dir, model, { tokenizer: 'gpt2', vocabulary, layers });
      const { tensors, metadata } = readSafetensorsBySpec(readFileSync(join(dir, 'model.safetensors')));
      assert.equal(metadata?.producer, 'legible');
      const weights = model.namedWeights();
      assert.deepEqual([...tensors.keys()].sort(), weights.map((w) => w.name).sort());
      for (const w of weights) {
        assert.deepEqual(tensors.get(w.name)!.shape, w.shape, w.name);
        assert.deepEqual(Float32Array.from(tensors.get(w.name)!.values), w.values, w.name);
      }
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.equal(config.kind, 'transformer');
      assert.equal(config.frozenThrough, 0);
      assert.deepEqual(config.vocabulary, vocabulary);
      assert.deepEqual(config.layers[0].legible, [1, 3]);
      assert.equal(config.spec.dMlp, 5);

      // Read back through model.from's reader, the same weights.
      const back = readExportedModel(dir);
      for (const w of weights) assert.deepEqual(back.bundle.arrays[w.name], w.values, w.name);
    } finally {
      model.dispose();
    }
  });

  it('refuses a model that does not fit the pipeline, naming the difference', () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-export-'));
    const model = createModel(spec, 4);
    try {
      const config = writeExportedModel(dir, model, { tokenizer: 'gpt2', vocabulary, layers: [] });
      const fits = (expected: Partial<TransformerSpec>, tokenizer = 'gpt2', words = vocabulary) => () => checkExportFits(config, dir, { ...spec, ...expected }, tokenizer, words);
      assert.doesNotThrow(fits({}));
      assert.throws(fits({ dMlp: 6 }), (e: Error) => e instanceof InvalidInputError && /its dMlp is 5, the pipeline's is 6/.test(e.message));
      assert.throws(fits({}, 'words'), /it reads gpt2 tokens, the pipeline's corpus.tokenizer is words/);
      assert.throws(fits({}, 'gpt2', vocabulary.slice(0, 10)), /its vocabulary has 12 tokens, this pipeline's corpus gives 10/);
      const other = [...vocabulary];
      other[4] = ' lake';
      assert.throws(fits({}, 'gpt2', other), /token 4 of its vocabulary is " river", this pipeline's corpus has " lake" there/);
      assert.throws(() => checkExportFits(config, dir, { kind: 'mlp', vocabularySize: 12, contextWords: 4, embeddingSize: 8, hidden: spec.hidden }, 'gpt2', vocabulary), /it is a transformer, the pipeline's model.kind is mlp/);
    } finally {
      model.dispose();
    }
  });

  it('names the file when an export directory is missing or damaged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-export-'));
    assert.throws(() => readExportedModel(join(dir, 'nowhere')), /model.from: cannot read .*nowhere\/config.json \(ENOENT\)/);
    writeFileSync(join(dir, 'config.json'), '{"format": "something-else"}');
    assert.throws(() => readExportedModel(dir), /config.json was not written by `legible export`/);
    const model = createModel(spec, 5);
    try {
      writeExportedModel(dir, model, { tokenizer: 'gpt2', vocabulary, layers: [] });
    } finally {
      model.dispose();
    }
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from([1, 2, 3]));
    assert.throws(() => readExportedModel(dir), /model.safetensors: not a readable safetensors file: shorter than its 8-byte header length/);
  });
});
