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
import { ArtifactStore } from '../store/artifacts';
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
  const context = () => ({ store: new ArtifactStore(mkdtempSync(join(tmpdir(), 'legible-llm-'))), usage: noUsage() });
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
    const stored = readdirSync(ctx.store.root, { recursive: true, encoding: 'utf8' }).map((f) => join(ctx.store.root, f));
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
      const dir = join(ctx.store.root, 'artifacts', sha.slice(0, 2));
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
