// Pipeline YAML as people write it: merge keys, aliases, several documents, deep nesting, YAML 1.1 words, typos,
// values left to their defaults, settings without effect, and `legible validate` over several files with --plan.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkPipeline, PipelineError, type PipelineProblem } from '../pipelines/load';

const MODEL = 'model: { hidden: [{ name: h1, width: 8 }, { name: h2, width: 8 }] }\n';

/** The problems a text is refused with (fails if it is accepted). */
function problems(text: string): PipelineProblem[] {
  try {
    checkPipeline(text, 'p.yaml');
  } catch (err) {
    if (err instanceof PipelineError) return err.problems;
    throw err;
  }
  assert.fail('accepted');
}

describe('pipeline YAML', () => {
  it('merge keys work: one provider block reused with one key changed', () => {
    const { pipeline } = checkPipeline(`name: m\n${MODEL}explainer: &llm { provider: openai, model: x, baseURL: "http://localhost:1/v1" }\nsimulator: { <<: *llm, model: gpt-4o }\n`);
    assert.deepEqual([pipeline.simulator.provider, pipeline.simulator.provider === 'openai' && pipeline.simulator.model], ['openai', 'gpt-4o']);
  });

  it('every parse error has its line and column and words an author understands', () => {
    const [alias] = problems(`name: a\n${MODEL}explainer: *nosuch\n`);
    assert.deepEqual([alias!.line, alias!.column], [3, 12]);
    assert.match(alias!.message, /\*nosuch refers to no anchor: set &nosuch/);
    const [multi] = problems(`name: a\n${MODEL}---\nname: b\n`);
    assert.deepEqual([multi!.line, multi!.message], [3, 'this file holds 2 YAML documents (separated by "---"); a pipeline file holds one']);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 6 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    const [exploded] = problems(bomb);
    assert.match(exploded!.message, /aliases expand to too many copies/);
    assert.equal(exploded!.line, 2);
    const [twice] = problems(`name: a\nname: b\n${MODEL}`);
    assert.deepEqual([twice!.line, twice!.message], [2, 'the key "name" appears twice in one map']);
    assert.match(problems('- a\n- b\n')[0]!.message, /a pipeline file is a map of settings .*, not a list/);
    const [deep] = problems(`name: deep\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    assert.equal(deep!.message, 'the file nests too deeply to be a pipeline');
  });

  it('teaches: did you mean, the form of a duration, YAML 1.1 words', () => {
    const found = problems(`name: t\n${MODEL}interpretability: { legibleFracton: 0.5, dictionary: { enabled: yes } }\ntrainng: { epochs: 1 }\nsteps: { explainNeuron: { tag: llm }, trainBaseModel: { startToCloseTimeout: 30 } }\n`);
    const says = (path: string) => found.find((p) => p.path === path)?.message ?? '';
    assert.match(says('interpretability.legibleFracton'), /did you mean "legibleFraction"\?/);
    assert.match(says('trainng'), /did you mean "training"\?/);
    assert.match(says('steps.explainNeuron'), /did you mean "explainNeurons"\?/);
    assert.match(says('steps.trainBaseModel.startToCloseTimeout'), /a duration such as "90s", "30m" or "2h".*not 30/);
    const [variant] = problems(`name: v\n${MODEL}explainer: { provider: embedded, apiKeyEnv: X }\n`);
    assert.equal(variant!.message, 'unknown key "apiKeyEnv": it is not a setting of provider: embedded');
    assert.match(says('interpretability.dictionary.enabled'), /"yes" is a word in YAML 1\.2 .* write true or false/);
    assert.deepEqual(found.map((p) => p.line), [...found.map((p) => p.line)].sort((a, b) => a - b), 'in file order');
  });

  it('a problem at a default the file does not set says so, and is shown where the file sets what rules it out', () => {
    const found = problems(`name: c\ncorpus: { sentences: 300 }\n${MODEL}`);
    assert.equal(found.length, 2);
    for (const p of found) {
      assert.match(p.message, /is not set in this file: its default\)$/);
      assert.match(p.message, /raise corpus\.sentences/);
      assert.deepEqual([p.line, p.column], [2, 22], 'at corpus.sentences');
    }
    const [missing] = problems('name: x\n');
    assert.deepEqual([missing!.path, missing!.message], ['model', 'missing: required here']);
  });

  it('one bad layer name is one problem, not also one about a starting depth the file never set', () => {
    const found = problems(`name: l\n${MODEL}interpretability: { layerOrder: [h9] }\n`);
    assert.deepEqual(found.map((p) => p.path), ['interpretability.layerOrder[0]']);
  });

  it('warns of settings that have no effect', () => {
    const { warnings } = checkPipeline(`name: w\n${MODEL}interpretability:\n  layerOrder: [h2]\n  layers: { h1: { legibleFraction: 0.5 } }\n  dictionary: { kind: l1, k: 8 }\n`, 'w.yaml');
    assert.deepEqual(warnings.map((w) => w.path), ['interpretability.layers.h1', 'interpretability.dictionary.k']);
    assert.match(warnings[0]!.message, /layer "h1" is not processed \(layerOrder is \[h2\]\)/);
    const off = checkPipeline(`name: w\n${MODEL}interpretability: { dictionary: { enabled: false, k: 8 } }\n`).warnings;
    assert.match(off[0]!.message, /dictionary learning is off, so k has no effect/);
    assert.deepEqual(checkPipeline(`name: ok\n${MODEL}`).warnings, []);
    const unused = checkPipeline('name: u\ncorpus: { segment: windows, minTokens: 6 }\nmodel: { kind: transformer, from: exported }\ntraining: { epochs: 5 }\n').warnings;
    assert.deepEqual(unused.map((w) => w.path), ['training', 'corpus.minTokens']);
    assert.match(unused[0]!.message, /model.from starts from an exported model, so the base model is not trained/);
  });

  it('legible validate checks every file it is given, exits 1 if any failed, and --plan prints the plan', () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-yaml-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: a\nexplainer: *nosuch\n');
    const good = join(dir, 'good.yaml');
    writeFileSync(good, `name: g\ncorpus: { sentences: 2000 }\n${MODEL}interpretability: { explanationSequences: 300, scoringSequences: 100, legibleFraction: 0.25 }\nalignment: { sequences: 300 }\n`);
    const r = spawnSync(process.execPath, [join(__dirname, '..', 'bin', 'legible.js'), 'validate', '--plan', bad, good], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:2:12: \\*nosuch refers to no anchor`));
    assert.match(r.stdout, /good\.yaml: ok/);
    assert.match(r.stdout, /the run \(seed 1\): \d+ activities\n {4}h1 \(depth 0\): 2 of 8 neurons legible \(fraction 0\.25\)\n {4}h2 \(depth 1\): 2 of 8 neurons legible/);
  });
});
