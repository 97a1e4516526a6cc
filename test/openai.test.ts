// The OpenAI-compatible provider against a local server speaking the Chat Completions wire format: a good answer,
// malformed JSON, 429 then success, 401, a slow answer, the cache, usage, and the prompts' form.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ChatClient, explainerMessages, MalformedAnswerError, OpenAIExplainer, OpenAISimulator, RequestRefusedError } from '../llm/openai';
import { noUsage } from '../llm/types';
import { parsePipeline } from '../pipelines/load';
import type { OpenAIProvider } from '../pipelines/schema';
import { directoryStore } from '../store/open';
import { startFakeOpenAI, type FakeOpenAI, type Reply } from './helpers/fake-openai';

const KEY = 'sk-test-legible-0123456789abcdef';
process.env.LEGIBLE_TEST_KEY = KEY;

function settings(baseURL: string, extra = ''): OpenAIProvider {
  const p = parsePipeline(
    `name: t\nmodel: { hidden: [{ name: h, width: 2 }] }\nexplainer: { provider: openai, model: fake-model, baseURL: "${baseURL}", apiKeyEnv: LEGIBLE_TEST_KEY, requestsPerSecond: 1000${extra} }\n`,
  );
  return p.explainer as OpenAIProvider;
}

const records = {
  unit: 7,
  top: [{ tokens: ['the', 'dog', 'ran'], activations: [0, 2.5, 0.5] }],
  random: [{ tokens: ['a', 'red', 'car'], activations: [0, 0, 0] }],
};

describe('OpenAI-compatible provider', () => {
  const servers: FakeOpenAI[] = [];
  const serve = async (answer: (i: number) => Reply) => {
    const s = await startFakeOpenAI((_, i) => answer(i));
    servers.push(s);
    return s;
  };
  const context = () => {
  const root = mkdtempSync(join(tmpdir(), 'legible-llm-'));
  return { root, store: directoryStore(root), usage: noUsage() };
};
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('explains from a good answer, sends the key only in the header, and records usage', async () => {
    const s = await serve(() => ({ content: '{"explanation": "words for animals"}' }));
    const ctx = context();
    const [e] = await new OpenAIExplainer(new ChatClient(settings(s.baseURL), ctx)).explain([{ records }]);
    assert.deepEqual(e, { unit: 7, label: 'words for animals' });
    assert.equal(s.requests[0]!.headers.authorization, `Bearer ${KEY}`);
    assert.equal(s.requests[0]!.body.model, 'fake-model');
    assert.deepEqual(ctx.usage, { calls: 1, cachedCalls: 0, promptTokens: 100, completionTokens: 20 });
  });

  it('asks the same question once: the answer is cached in the artifact store', async () => {
    const s = await serve(() => ({ content: '{"explanation": "words for animals"}' }));
    const ctx = context();
    const explainer = new OpenAIExplainer(new ChatClient(settings(s.baseURL), ctx));
    await explainer.explain([{ records }]);
    await explainer.explain([{ records }]);
    assert.equal(s.requests.length, 1);
    assert.deepEqual([ctx.usage.calls, ctx.usage.cachedCalls], [1, 1]);
    const stored = readdirSync(ctx.root, { recursive: true, encoding: 'utf8' }).map((f) => join(ctx.root, f));
    for (const f of stored.filter((f) => f.endsWith('.json'))) assert.ok(!readFileSync(f, 'utf8').includes(KEY), `${f} holds the key`);
  });

  it('retries malformed JSON, then fails for good with the raw answers saved', async () => {
    const s = await serve(() => ({ content: '{"explanation": words for animals' }));
    const ctx = context();
    const explainer = new OpenAIExplainer(new ChatClient(settings(s.baseURL, ', answerAttempts: 2'), ctx));
    await assert.rejects(explainer.explain([{ records }]), (err: Error) => {
      assert.ok(err instanceof MalformedAnswerError);
      assert.match(err.message, /no well-formed explanation answer in 2 attempts \(last: not JSON/);
      const sha = err.message.match(/artifact ([0-9a-f]{12})/)![1]!;
      const dir = join(ctx.root, 'artifacts', sha.slice(0, 2));
      const saved = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.startsWith(sha))!), 'utf8'));
      assert.equal(saved.answers.length, 2);
      assert.equal(saved.answers[0].content, '{"explanation": words for animals');
      return true;
    });
    assert.equal(s.requests.length, 2);
  });

  it('rejects an answer of the wrong shape or length, then accepts a corrected one', async () => {
    const answers = ['{"sentences": [{"activations": [1, 2]}]}', '{"sentences": [{"activations": [0, 10, 0]}]}'];
    const s = await serve((i) => ({ content: answers[i]! }));
    const sim = await new OpenAISimulator(new ChatClient(settings(s.baseURL), context()), 10).simulate('animals', [['the', 'dog', 'ran']]);
    assert.deepEqual(sim, [[0, 10, 0]]);
    assert.equal(s.requests.length, 2);
    const user = s.requests[0]!.body.messages[1]!.content;
    assert.match(user, /^Explanation: animals/);
    assert.deepEqual(JSON.parse(user.slice(user.indexOf('{'))), { sentences: [['the', 'dog', 'ran']] });
  });

  it('reads JSON wrapped in a code fence', async () => {
    const s = await serve(() => ({ content: '```json\n{"explanation": "words for vehicles"}\n```' }));
    const [e] = await new OpenAIExplainer(new ChatClient(settings(s.baseURL), context())).explain([{ records }]);
    assert.equal(e!.label, 'words for vehicles');
    assert.equal(s.requests.length, 1);
  });

  it('reports a refusal with its text, and tells the model what was wrong when it asks again', async () => {
    const s = await serve(() => ({ refusal: 'I cannot help with labelling neurons.' }));
    await assert.rejects(new OpenAIExplainer(new ChatClient(settings(s.baseURL, ', answerAttempts: 2'), context())).explain([{ records }]), (err: Error) => {
      assert.ok(err instanceof MalformedAnswerError);
      assert.match(err.message, /the model refused: I cannot help with labelling neurons\./);
      return true;
    });
    assert.equal(s.requests.length, 2);
    assert.match(s.requests[1]!.body.messages.at(-1)!.content, /That answer cannot be used \(the model refused: I cannot help/);
  });

  it('never caches a malformed answer: once the endpoint is fixed, the same question is asked again', async () => {
    let fixed = false;
    const s = await serve(() => ({ content: fixed ? '{"explanation": "words for animals"}' : '{"explanation": ' }));
    const store = context().store;
    const explain = () => new OpenAIExplainer(new ChatClient(settings(s.baseURL, ', answerAttempts: 2'), { store, usage: noUsage() })).explain([{ records }]);
    await assert.rejects(explain(), MalformedAnswerError);
    fixed = true;
    const [e] = await explain();
    assert.equal(e!.label, 'words for animals');
    assert.equal(s.requests.length, 3, 'two failed attempts, then one new request');
    await explain();
    assert.equal(s.requests.length, 3, 'the well-formed answer is cached');
  });

  it('sends a response format that strict structured outputs accept (from openai-node\'s zod helper)', async () => {
    const s = await serve(() => ({ content: '{"explanation": "x"}' }));
    await new OpenAIExplainer(new ChatClient(settings(s.baseURL), context())).explain([{ records }]);
    const schema = JSON.stringify(s.requests[0]!.body.response_format!.json_schema!.schema);
    assert.doesNotMatch(schema, /minLength|maxLength/);
    assert.match(schema, /"additionalProperties":false/);
  });

  it('simulates with the expected value over "0".."10" from the top logprobs, where the endpoint gives them', async () => {
    // The answer {"sentences":[{"activations":[0,10,0]}]} as tokens; each number's token has its alternatives.
    const lp = (top: Record<string, number>) => Object.entries(top).map(([token, p]) => ({ token, logprob: Math.log(p) }));
    const tokens = [
      { token: '{"sentences":[{"activations":[', top: [] },
      { token: '0', top: lp({ '0': 0.9, '5': 0.1 }) },
      { token: ',', top: [] },
      { token: '10', top: lp({ '10': 0.6, '8': 0.2, '0': 0.2 }) },
      { token: ',', top: [] },
      { token: '0', top: lp({ '0': 1 }) },
      { token: ']}]}', top: [] },
    ].map((t) => ({ token: t.token, logprob: -0.1, top_logprobs: t.top }));
    const s = await serve(() => ({ content: tokens.map((t) => t.token).join(''), logprobs: tokens }));
    const sim = new OpenAISimulator(new ChatClient(settings(s.baseURL), context()), 10);
    const [values] = await sim.simulate('animals', [['the', 'dog', 'ran']]);
    assert.equal(s.requests[0]!.body.logprobs, true);
    assert.ok(s.requests[0]!.body.top_logprobs! >= 11);
    const expected = [0.5, 0.6 * 10 + 0.2 * 8, 0];
    values!.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-9, `${v} vs ${expected[i]}`));
    assert.equal(sim.method, 'logprobs');
    assert.deepEqual(sim.notes, []);
  });

  it('falls back to the written numbers, with a note, where the endpoint returns no logprobs; json asks for none', async () => {
    const s = await serve(() => ({ content: '{"sentences": [{"activations": [0, 7, 0]}]}' }));
    const sim = new OpenAISimulator(new ChatClient(settings(s.baseURL), context()), 10);
    assert.deepEqual(await sim.simulate('animals', [['the', 'dog', 'ran']]), [[0, 7, 0]]);
    assert.equal(sim.method, 'json');
    assert.match(sim.notes.join(), /returned no logprobs/);
    const plain = new OpenAISimulator(new ChatClient(settings(s.baseURL, ', method: json'), context()), 10);
    await plain.simulate('animals', [['a', 'red', 'cat']]);
    assert.equal(s.requests.at(-1)!.body.logprobs, undefined);
  });

  it('finds the JSON after a reasoning block, or inside prose', async () => {
    const answers = ['<think>It fires on animals.</think>\n{"explanation": "animals"}', 'Here is the answer:\n```json\n{"explanation": "plants"}\n```\nHope this helps.'];
    for (const content of answers) {
      const s = await serve(() => ({ content }));
      const [e] = await new OpenAIExplainer(new ChatClient(settings(s.baseURL), context())).explain([{ records }]);
      assert.match(e!.label, /^(animals|plants)$/);
      assert.equal(s.requests.length, 1);
    }
  });

  it('reads a number written as several tokens as written, and asks again without logprobs where they are refused', async () => {
    const tokens = ['{"sentences":[{"activations":[', '1', '0', ',', '0', ']}]}'].map((token) => ({ token, logprob: -0.1, top_logprobs: /^\d$/.test(token) ? [{ token, logprob: -0.1 }, { token: '5', logprob: -3 }] : [] }));
    const s = await serve(() => ({ content: tokens.map((t) => t.token).join(''), logprobs: tokens }));
    const [values] = await new OpenAISimulator(new ChatClient(settings(s.baseURL), context()), 10).simulate('animals', [['dog', 'ran']]);
    assert.equal(values![0], 10, 'not about 1');
    const refusing = await startFakeOpenAI((req) => (req.body.logprobs ? { status: 400, raw: { error: { message: 'logprobs is not supported with this model' } } } : { content: '{"sentences": [{"activations": [10, 0]}]}' }));
    servers.push(refusing);
    const sim = new OpenAISimulator(new ChatClient(settings(refusing.baseURL), context()), 10);
    assert.deepEqual(await sim.simulate('animals', [['dog', 'ran']]), [[10, 0]]);
    assert.equal(sim.method, 'json');
  });

  it('waits out a 429 (honouring Retry-After) and succeeds', async () => {
    const s = await serve((i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { content: '{"explanation": "vehicles"}' }));
    const started = Date.now();
    const [e] = await new OpenAIExplainer(new ChatClient(settings(s.baseURL), context())).explain([{ records }]);
    assert.equal(e!.label, 'vehicles');
    assert.equal(s.requests.length, 2);
    assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
  });

  it('fails at once, for good, on 401', async () => {
    const s = await serve(() => ({ status: 401 }));
    await assert.rejects(new OpenAIExplainer(new ChatClient(settings(s.baseURL), context())).explain([{ records }]), (err: Error) => {
      assert.ok(err instanceof RequestRefusedError);
      assert.match(err.message, /HTTP 401.*check the API key in \$LEGIBLE_TEST_KEY/);
      assert.ok(!err.message.includes(KEY));
      return true;
    });
    assert.equal(s.requests.length, 1);
  });

  it('gives up on a slow answer at the timeout, as a retryable error', async () => {
    const s = await serve(() => ({ delayMs: 3000, content: '{"explanation": "late"}' }));
    const started = Date.now();
    await assert.rejects(
      new OpenAIExplainer(new ChatClient(settings(s.baseURL, ', timeout: 300ms, maxRetries: 0'), context())).explain([{ records }]),
      (err: Error) => {
        assert.ok(!(err instanceof RequestRefusedError) && !(err instanceof MalformedAnswerError));
        assert.match(err.message, /no answer within 300ms/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 2500);
  });

  it('refuses to start without a key for api.openai.com', () => {
    delete process.env.LEGIBLE_MISSING_KEY;
    const p = parsePipeline('name: t\nmodel: { hidden: [{ name: h, width: 2 }] }\nexplainer: { provider: openai, model: m, apiKeyEnv: LEGIBLE_MISSING_KEY }\n');
    assert.throws(() => new ChatClient(p.explainer as OpenAIProvider, context()), /needs an API key in the environment variable LEGIBLE_MISSING_KEY/);
  });

  it('writes the explainer prompt as token / activation lists on a 0-10 scale, with incoming neurons', () => {
    const [system, user] = explainerMessages({ records, incoming: [{ unit: 3, weight: 1.234, label: 'words for animals' }] });
    assert.match(system!.content, /summarize/);
    assert.match(user!.content, /Neuron 7\nTop-activating examples:\n<start>\nthe\t0\ndog\t10\nran\t2\n<end>/);
    assert.match(user!.content, /Random examples:\n<start>\na\t0\nred\t0\ncar\t0\n<end>/);
    assert.match(user!.content, /- neuron 3 \(weight \+1\.23\): words for animals/);
  });
});
