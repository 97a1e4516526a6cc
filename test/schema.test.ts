// Pipeline validation: every kind of bad file is rejected before anything runs, with file, line, column and key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { parse as parseYaml } from 'yaml';
import { parsePipeline, PipelineError, type PipelineProblem } from '../pipelines/load';
import { expandPlan, expandSweep } from '../pipelines/plan';
import { planProblems, planSize } from '../pipelines/plan-size';
import { pipelineJsonSchema, STEP_KINDS } from '../pipelines/schema';

const GOOD = `name: t
model:
  hidden:
    - { name: h1, width: 8 }
    - { name: h2, width: 8 }
`;

function problems(text: string): PipelineProblem[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (err) {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${err}`);
    return err.problems;
  }
  assert.fail('the pipeline was accepted');
}

describe('pipeline validation', () => {
  it('accepts a minimal pipeline and fills in the defaults', () => {
    const p = parsePipeline(GOOD);
    assert.equal(p.interpretability.legibleFraction, 0.5);
    assert.equal(p.training.epochs, 3);
    const plan = expandPlan(p, GOOD);
    assert.deepEqual(plan.layers.map((l) => [l.name, l.legibleUnits]), [['h1', 4], ['h2', 4]]);
    for (const [kind, tag] of Object.entries(STEP_KINDS)) assert.equal(plan.steps[kind as keyof typeof STEP_KINDS].taskQueue, `legible-${tag}`);
  });

  it('reports an unknown key at the key itself', () => {
    const [p, ...more] = problems(`${GOOD}trainig:\n  epochs: 2\n`);
    assert.equal(more.length, 0);
    assert.deepEqual([p!.line, p!.column, p!.path], [6, 1, 'trainig']);
    assert.match(p!.message, /unknown key "trainig"/);
  });

  it('reports a nested unknown key with its full path', () => {
    const [p] = problems(`${GOOD}alignment:\n  epochs: 2\n  wieght: 3\n`);
    assert.deepEqual([p!.line, p!.column, p!.path], [8, 3, 'alignment.wieght']);
  });

  it('reports a wrong type', () => {
    const [p] = problems(GOOD.replace('width: 8 }\n    - { name: h2', 'width: wide }\n    - { name: h2'));
    assert.deepEqual([p!.line, p!.path], [4, 'model.hidden[0].width']);
    assert.match(p!.message, /number/);
  });

  it('reports a layer order that names a missing layer', () => {
    const [p] = problems(`${GOOD}interpretability:\n  layerOrder: [h1, h3]\n`);
    assert.deepEqual([p!.line, p!.column, p!.path], [7, 20, 'interpretability.layerOrder[1]']);
    assert.match(p!.message, /"h3" is not a hidden layer of the model \(h1, h2\)/);
  });

  it('reports a layer order that runs top-down', () => {
    const [p] = problems(`${GOOD}interpretability:\n  layerOrder: [h2, h1]\n`);
    assert.equal(p!.path, 'interpretability.layerOrder[1]');
    assert.match(p!.message, /bottom-up/);
  });

  it('reports a starting depth past the last layer', () => {
    const [p] = problems(`${GOOD}interpretability:\n  startingDepth: 2\n`);
    assert.deepEqual([p!.line, p!.column, p!.path], [7, 18, 'interpretability.startingDepth']);
    assert.match(p!.message, /past the last hidden layer/);
  });

  it('reports a legible fraction outside [0, 1]', () => {
    const [p] = problems(`${GOOD}interpretability:\n  layers:\n    h2: { legibleFraction: 1.5 }\n`);
    assert.deepEqual([p!.line, p!.path], [8, 'interpretability.layers.h2.legibleFraction']);
    assert.match(p!.message, /1/);
  });

  it('reports an unknown resource tag', () => {
    const [p] = problems(`${GOOD}steps:\n  explainNeurons: { tag: tpu }\n`);
    assert.deepEqual([p!.line, p!.path], [7, 'steps.explainNeurons.tag']);
    assert.match(p!.message, /gpu|llm|cpu/);
  });

  it('reports YAML syntax errors with their position', () => {
    const [p] = problems('name: t\nmodel:\n  hidden: [{ name: h1, width: 8 }\n');
    assert.match(p!.message, /YAML syntax error/);
    assert.ok(p!.line >= 3, `line ${p!.line}`);
  });

  it('reports every problem at once', () => {
    const all = problems(`${GOOD}interpretability:\n  legibleFraction: -1\n  startingDepth: 9\nbogus: 1\n`);
    assert.deepEqual(all.map((p) => p.path).sort(), ['bogus', 'interpretability.legibleFraction', 'interpretability.startingDepth']);
  });

  it('lets a step override its tag, timeout and retries', () => {
    const text = `${GOOD}steps:\n  defaults: { retry: { maximumAttempts: 5 } }\n  evaluateTask: { tag: gpu, startToCloseTimeout: 5m }\n`;
    const plan = expandPlan(parsePipeline(text), text, 'x');
    assert.deepEqual([plan.steps.evaluateTask.taskQueue, plan.steps.evaluateTask.startToCloseTimeout], ['x-gpu', '5m']);
    assert.equal(plan.steps.explainNeurons.retry.maximumAttempts, 5);
  });

  it('every example pipeline validates, and the committed JSON Schema is the one the zod schema generates', () => {
    const dir = join(__dirname, '..', 'pipelines');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      assert.doesNotThrow(() => parsePipeline(text, file), file);
      assert.match(text, /^# yaml-language-server: \$schema=\.\/pipeline\.schema\.json/, `${file} names the schema for editors`);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'pipeline.schema.json'), 'utf8')), pipelineJsonSchema(), 'run `npm run schema`');
  });

  it('the generated JSON Schema accepts every example pipeline and rejects what the validator rejects', () => {
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(pipelineJsonSchema());
    const dir = join(__dirname, '..', 'pipelines');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      const ok = validate(parseYaml(readFileSync(join(dir, file), 'utf8')));
      assert.ok(ok, `${file}: ${JSON.stringify(validate.errors)}`);
    }
    assert.equal(validate(parseYaml(`${GOOD}trainig: { epochs: 2 }\n`)), false, 'unknown key');
    assert.equal(validate(parseYaml(`${GOOD}interpretability: { legibleFraction: 1.5 }\n`)), false, 'fraction above 1');
    assert.equal(validate(parseYaml(`${GOOD}steps: { explainNeurons: { tag: tpu } }\n`)), false, 'unknown tag');
  });

  it('`legible validate` prints file:line:column and exits non-zero', () => {
    const dir = mkdtempSync(join(tmpdir(), 'legible-validate-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${GOOD}interpretability:\n  layerOrder: [h1, h3]\n`);
    const good = join(dir, 'good.yaml');
    writeFileSync(good, GOOD);
    const r = spawnSync(process.execPath, [join(__dirname, '..', 'bin', 'legible.js'), 'validate', good, bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /good\.yaml: ok/);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:7:20: interpretability\\.layerOrder\\[1\\]: layer "h3"`));
  });
});

describe('plan size against Temporal\'s limits', () => {
  const plan = (hidden: string, extra = '') => {
    const text = `name: size\ncorpus: { sentences: 20000 }\nmodel: { hidden: [${hidden}] }\n${extra}`;
    return expandPlan(parsePipeline(text), text);
  };
  const layers = (n: number, width: number) => Array.from({ length: n }, (_, i) => `{ name: l${i}, width: ${width} }`).join(', ');

  it('lets the example pipelines through', () => {
    for (const file of readdirSync(join(__dirname, '..', 'pipelines')).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(__dirname, '..', 'pipelines', file), 'utf8');
      const p = parsePipeline(text, file);
      assert.deepEqual(planProblems(p.sweep ? expandSweep(p, text) : expandPlan(p, text)), [], file);
    }
  });

  it('fits any width within the limits: GPT-2 small\'s shape on paper, and one unit per activity', () => {
    // GPT-2 small's MLP shape: 12 layers of 3072 neurons.
    const gpt2 = plan(layers(12, 3072));
    assert.deepEqual(planProblems(gpt2), []);
    const size = planSize(gpt2);
    assert.ok(size.pipelineEvents < 51_200 && size.layerEvents < 51_200 && size.fanOut.eventsPerRun < 51_200, JSON.stringify(size));
    assert.equal(size.fanOut.inFlight, 96); // 3072 / 32 per activity
    assert.ok(size.resultBytes > 2 * 1024 * 1024, 'the report is larger than a payload may be: it travels as an artifact reference');
    const one = planSize(plan(layers(1, 4096), 'interpretability: { unitsPerActivity: 1 }'));
    assert.equal(one.fanOut.inFlight, 1800, 'a window of 90% of the pending-activity limit');
    assert.ok(one.fanOut.runs === 1 && one.fanOut.eventsPerRun < 51_200 * 0.81, JSON.stringify(one.fanOut));
    // Scaled-down limits: more, smaller runs.
    const small = planSize(plan(layers(1, 40), 'interpretability: { unitsPerActivity: 1 }\ntemporalLimits: { historyEvents: 300, pendingActivities: 10 }'));
    assert.deepEqual(small.fanOut, { activities: 40, inFlight: 9, runs: 2, eventsPerRun: 234 });
  });

  it('refuses, with the limit, only a server whose limits a layer\'s fixed steps cannot fit', () => {
    const problems = planProblems(plan(layers(1, 64), 'interpretability: { dictionary: { enabled: true } }\ntemporalLimits: { historyEvents: 200 }'));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /a layer workflow would write about 2\d\d history events, past temporalLimits\.historyEvents \(200\)/);
  });
});
