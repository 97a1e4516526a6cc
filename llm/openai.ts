// The OpenAI-compatible provider (OpenAI, vLLM, llama.cpp server, Ollama), through the `openai` package. Prompts
// follow OpenAI's automated-interpretability method: the explainer sees a unit's top-activating and random examples
// as token / activation lists discretised to 0–10 (and, optionally, its strongest incoming neurons); the simulator
// predicts 0–10 per token for a batch of sentences in one call. Answers are structured outputs validated by zod.
// Every request and answer is cached in the artifact store by content hash, so a re-run or resumed step makes no
// repeated calls. The API key is read from the worker's environment and goes nowhere else.
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { InvalidInputError } from '../data/errors';
import { durationMs, type OpenAIProvider } from '../pipelines/schema';
import type { ArtifactStore } from '../store/artifacts';
import { RequestLimiter } from './limits';
import { SIMULATION_MAX, type Explainer, type ExplainRequest, type Explanation, type ProviderContext, type Simulator, type Usage } from './types';

/** An answer that stayed malformed after every attempt: the raw answers are kept as an artifact. */
export class MalformedAnswerError extends InvalidInputError {
  override name = 'MalformedAnswerError';
}

/** A request the endpoint refused for a reason no retry fixes (400, 401, 403, 404, 422). */
export class RequestRefusedError extends InvalidInputError {
  override name = 'RequestRefusedError';
}

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

/** One generated token with the log-probabilities of the most likely tokens at its place (OpenAI's `logprobs`). */
export interface TokenLogprobs {
  token: string;
  top: { token: string; logprob: number }[];
}

/** A well-formed answer as the cache keeps it: the JSON text and, where asked for and given, each token's logprobs. */
interface Answer {
  content: string;
  logprobs?: TokenLogprobs[];
}

/**
 * The JSON inside an answer: models wrap it in a Markdown code fence (```json ... ```) though asked not to, put a
 * sentence before or after it, or (reasoning models) a <think>...</think> block first. Returns the fenced block, or
 * else the text from the first "{" to the last "}", or else the text itself.
 */
function stripCodeFence(content: string): string {
  const text = content.replace(/<think>[\s\S]*?<\/think>/gi, '').trim();
  const fenced = text.match(/```[A-Za-z]*\s*\r?\n?([\s\S]*?)\r?\n?```/);
  if (fenced) return fenced[1]!.trim();
  const first = text.indexOf('{');
  const last = text.lastIndexOf('}');
  return first >= 0 && last > first ? text.slice(first, last + 1) : text;
}

/** A chat client for one provider's settings: rate-limited, cached, with structured answers checked by zod. */
export class ChatClient {
  private readonly client: OpenAI;
  private readonly limiter: RequestLimiter;
  private readonly store: ArtifactStore;
  private readonly usage: Usage;

  constructor(
    readonly settings: OpenAIProvider,
    ctx: ProviderContext,
  ) {
    this.store = ctx.store;
    this.usage = ctx.usage;
    const key = process.env[settings.apiKeyEnv];
    if (!key && !settings.baseURL)
      throw new InvalidInputError(`the OpenAI provider needs an API key in the environment variable ${settings.apiKeyEnv}, which is not set on this worker`);
    this.client = new OpenAI({
      // Local servers (vLLM, llama.cpp, Ollama) take no key; the SDK wants a string all the same.
      apiKey: key || 'no-key',
      ...(settings.baseURL ? { baseURL: settings.baseURL } : {}),
      timeout: durationMs(settings.timeout),
      maxRetries: settings.maxRetries,
    });
    this.limiter = RequestLimiter.for(`${settings.baseURL ?? 'openai'} ${settings.model}`, settings.maxConcurrency, settings.requestsPerSecond);
  }

  /**
   * Asks for an answer of the given shape, with the response format built by openai-node's own zod helper (the
   * JSON Schema subset that strict structured outputs accept: keep `schema` free of string lengths and check them in
   * `check`). A malformed answer (bad JSON after any code fence is stripped, wrong shape, `check` failing) or a
   * refusal is asked again, up to `answerAttempts` times, with the problem told to the model; then the step fails for
   * good, with the raw answers saved. Only a well-formed answer is cached (by the request): after a failure, a
   * resumed or new run asks again. With `logprobs`, the answer keeps each token's top log-probabilities where the
   * endpoint gives them.
   */
  async structured<T>(
    purpose: string,
    messages: Message[],
    schema: z.ZodType<T>,
    check: (answer: T) => string | undefined = () => undefined,
    o: { logprobs?: boolean } = {},
  ): Promise<{ answer: T; logprobs?: TokenLogprobs[] }> {
    const format = zodResponseFormat(schema, purpose);
    const parse = (content: string): { answer?: T; problem?: string } => {
      let json: unknown;
      try {
        json = JSON.parse(stripCodeFence(content));
      } catch (err) {
        return { problem: `not JSON: ${(err as Error).message}` };
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) return { problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ') };
      const wrong = check(parsed.data);
      return wrong ? { problem: wrong } : { answer: parsed.data };
    };
    // The cache key is the request itself; the API key never enters it.
    const key = { baseURL: this.settings.baseURL ?? null, model: this.settings.model, temperature: this.settings.temperature, messages, format, logprobs: o.logprobs ?? false };
    const { result, reused } = await this.store.memoise('llm-answer', key, async (): Promise<Answer> => {
      const problems: { attempt: number; content: string; problem: string }[] = [];
      let conversation = messages;
      let wantLogprobs = o.logprobs ?? false;
      for (let attempt = 1; attempt <= this.settings.answerAttempts; attempt++) {
        let reply: Awaited<ReturnType<ChatClient['call']>>;
        try {
          reply = await this.call(conversation, format, wantLogprobs);
        } catch (err) {
          // Some endpoints (OpenAI's reasoning models, some servers) refuse logprobs: ask again without them.
          if (!(wantLogprobs && err instanceof RequestRefusedError && /logprob/i.test(err.message))) throw err;
          wantLogprobs = false;
          reply = await this.call(conversation, format, false);
        }
        const problem = reply.problem ?? (reply.refusal !== undefined ? `the model refused: ${reply.refusal}` : parse(reply.content).problem);
        if (problem === undefined) return { content: stripCodeFence(reply.content), ...(reply.logprobs ? { logprobs: reply.logprobs } : {}) };
        problems.push({ attempt, content: reply.refusal ?? reply.content, problem });
        conversation = [...messages, { role: 'assistant', content: reply.refusal ?? reply.content }, { role: 'user', content: `That answer cannot be used (${problem}). Answer again, with the JSON only.` }];
      }
      const saved = await this.store.putJson('malformed-answers', { model: this.settings.model, purpose, messages, answers: problems });
      throw new MalformedAnswerError(
        `${this.settings.model} gave no well-formed ${purpose} answer in ${problems.length} attempts (last: ${problems.at(-1)!.problem}); ` +
          `the answers are saved as artifact ${saved.sha256.slice(0, 12)} in ${this.store.location}`,
      );
    });
    if (reused) this.usage.cachedCalls++;
    return { answer: parse(result.content).answer!, ...(result.logprobs ? { logprobs: result.logprobs } : {}) };
  }

  /** One request to the endpoint (rate-limited, usage counted): the content, a refusal's text, and logprobs if given. */
  private async call(messages: Message[], format: ReturnType<typeof zodResponseFormat>, logprobs: boolean): Promise<{ content: string; refusal?: string; problem?: string; logprobs?: TokenLogprobs[] }> {
    const release = await this.limiter.acquire();
    try {
      const completion = await this.client.chat.completions.create({
        model: this.settings.model,
        temperature: this.settings.temperature,
        messages,
        response_format: { type: 'json_schema', json_schema: format.json_schema },
        ...(logprobs ? { logprobs: true, top_logprobs: 20 } : {}),
      });
      this.usage.calls++;
      this.usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
      this.usage.completionTokens += completion.usage?.completion_tokens ?? 0;
      const choice = completion.choices?.[0];
      if (!choice) return { content: '', problem: 'the endpoint returned no choices' };
      const tokens = choice.logprobs?.content;
      return {
        content: choice.message?.content ?? '',
        ...(choice.message?.refusal ? { refusal: choice.message.refusal } : {}),
        ...(tokens && tokens.length > 0 ? { logprobs: tokens.map((t) => ({ token: t.token, top: (t.top_logprobs ?? []).map((x) => ({ token: x.token, logprob: x.logprob })) })) } : {}),
      };
    } catch (err) {
      throw this.explain(err);
    } finally {
      release();
    }
  }

  /** Turns an SDK error into one that says what went wrong and whether a retry can help. */
  private explain(err: unknown): Error {
    const where = `${this.settings.model} at ${this.settings.baseURL ?? 'api.openai.com'}`;
    if (err instanceof OpenAI.APIConnectionTimeoutError) return new Error(`${where}: no answer within ${this.settings.timeout} (after ${this.settings.maxRetries} retries)`);
    if (err instanceof OpenAI.APIConnectionError) return new Error(`${where}: cannot connect (${err.message})`);
    if (err instanceof OpenAI.APIError) {
      const status = err.status ?? 0;
      const hint =
        status === 401 || status === 403 ? ` (check the API key in $${this.settings.apiKeyEnv})` : status === 404 ? ' (check model and baseURL)' : '';
      const message = `${where}: HTTP ${status}: ${firstLine(err.message)}${hint}`;
      if ([400, 401, 403, 404, 422].includes(status)) return new RequestRefusedError(message);
      return new Error(`${message} (after ${this.settings.maxRetries} retries)`);
    }
    return err as Error;
  }
}

/** The explainer's answer (strict structured outputs take no string lengths: they are checked after). */
const ExplanationAnswer = z.strictObject({ explanation: z.string() });
const explanationCheck = (a: { explanation: string }) =>
  a.explanation.trim().length === 0 ? 'explanation: empty' : a.explanation.length > 500 ? `explanation: ${a.explanation.length} characters, at most 500` : undefined;

/** The explainer's instructions: one short explanation, a concept where one fits, at most `maxListedWords` words. */
function explainerSystem(maxListedWords: number): string {
  return (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short document. " +
    'Look at the parts of the document the neuron activates for and summarize in a single short phrase what the neuron is looking for. ' +
    'Activations range from 0 (silent) to 10 (most active); each line is a token and its activation. ' +
    'Answer with JSON: {"explanation": "..."}. Write the phrase so that someone could predict the activations from it alone. ' +
    'Name a concept where one fits (a kind of thing, a part of speech, a word form, a position in the sentence, or two of these), ' +
    `for example: words for animals, e.g. "dog", "horse". List words only where no concept fits, and then at most ${maxListedWords}.`
  );
}

/** The explainer prompt for one unit: examples as token / activation lists, discretised to 0–10. */
export function explainerMessages(req: ExplainRequest, maxListedWords = 3): Message[] {
  const all = [...req.records.top, ...req.records.random];
  const max = Math.max(0, ...all.flatMap((r) => r.activations));
  const level = (a: number) => (max > 0 ? Math.round((SIMULATION_MAX * Math.max(0, a)) / max) : 0);
  const block = (title: string, records: typeof all) =>
    records.length === 0
      ? ''
      : `${title}\n${records.map((r) => `<start>\n${r.tokens.map((t, i) => `${t}\t${level(r.activations[i]!)}`).join('\n')}\n<end>`).join('\n')}\n`;
  const incoming =
    req.incoming && req.incoming.length > 0
      ? `\nThe neuron's strongest inputs from the layer below, with their weights and explanations:\n${req.incoming
          .map((n) => `- neuron ${n.unit} (weight ${n.weight >= 0 ? '+' : ''}${n.weight.toFixed(2)}): ${n.label}`)
          .join('\n')}\n`
      : '';
  return [
    { role: 'system', content: explainerSystem(maxListedWords) },
    { role: 'user', content: `Neuron ${req.records.unit}\n${block('Top-activating examples:', req.records.top)}${block('Random examples:', req.records.random)}${incoming}` },
  ];
}

export class OpenAIExplainer implements Explainer {
  readonly name: string;

  constructor(private readonly chat: ChatClient) {
    this.name = `openai:${chat.settings.model}`;
  }

  async explain(requests: ExplainRequest[]): Promise<Explanation[]> {
    return Promise.all(
      requests.map(async (req) => {
        const { answer } = await this.chat.structured('explanation', explainerMessages(req, this.chat.settings.maxListedWords), ExplanationAnswer, explanationCheck);
        return { unit: req.records.unit, label: answer.explanation.trim() };
      }),
    );
  }
}

const SimulationAnswer = z.strictObject({
  sentences: z.array(z.strictObject({ activations: z.array(z.number().min(0).max(SIMULATION_MAX)) })),
});

const SIMULATOR_SYSTEM =
  "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short document. " +
  "Given an explanation of what a neuron looks for, predict the neuron's activation on every token of each sentence, " +
  'from 0 (silent) to 10 (most active). Most activations are 0. ' +
  'Answer with JSON: {"sentences": [{"activations": [one number per token]}, ...]}, one entry per sentence, in order.';

/** The simulator prompt: the explanation, and the sentences as JSON token lists (predicted all at once). */
export function simulatorMessages(label: string, sentences: string[][]): Message[] {
  return [
    { role: 'system', content: SIMULATOR_SYSTEM },
    { role: 'user', content: `Explanation: ${label}\n\nSentences:\n${JSON.stringify({ sentences })}` },
  ];
}

/**
 * The expected activation at every number of an answer's `activations` arrays, from the log-probabilities of the
 * tokens "0" to "10" where that number begins: Σ p(n)·n over those candidates, renormalised (the reading of
 * OpenAI's all-at-once simulator, Bills et al. 2023, which takes the expected value over "0".."10" at each token).
 * A number written as several tokens ("1", "0" for 10) is read as written, since no single token's alternatives
 * cover it. Returns undefined where the tokens do not spell out the answer's numbers.
 */
function expectedActivations(tokens: TokenLogprobs[], counts: number[]): number[][] | undefined {
  const text = tokens.map((t) => t.token).join('');
  const starts: number[] = [];
  let at = 0;
  for (const t of tokens) {
    starts.push(at);
    at += t.token.length;
  }
  const tokenAt = (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return tokens[lo]!;
  };
  const out: number[][] = [];
  for (const array of text.matchAll(/"activations"\s*:\s*\[([^\]]*)\]/g)) {
    const base = array.index! + array[0].indexOf('[') + 1;
    const values: number[] = [];
    for (const n of array[1]!.matchAll(/-?\d+(?:\.\d+)?/g)) {
      const token = tokenAt(base + n.index!);
      // A number written as several tokens ("1", "0" for 10, as Llama's tokenizer writes it) is read as written.
      if (token.token.trim() !== n[0]) {
        values.push(Number(n[0]));
        continue;
      }
      let mass = 0;
      let sum = 0;
      for (const c of token.top) {
        const digits = c.token.trim();
        if (!/^\d{1,2}$/.test(digits) || Number(digits) > SIMULATION_MAX) continue;
        const p = Math.exp(c.logprob);
        mass += p;
        sum += p * Number(digits);
      }
      values.push(mass > 0 ? sum / mass : Number(n[0]));
    }
    out.push(values);
  }
  return out.length === counts.length && out.every((v, i) => v.length === counts[i]) ? out : undefined;
}

export class OpenAISimulator implements Simulator {
  readonly name: string;
  /** How the last simulations were read: expected values from logprobs, or the numbers the model wrote. */
  method: 'logprobs' | 'json';
  readonly notes: string[] = [];

  constructor(
    private readonly chat: ChatClient,
    private readonly sentencesPerCall: number,
  ) {
    this.name = `openai:${chat.settings.model}`;
    this.method = chat.settings.method;
  }

  async simulate(label: string, sentences: string[][]): Promise<number[][]> {
    const batches: string[][][] = [];
    for (let i = 0; i < sentences.length; i += this.sentencesPerCall) batches.push(sentences.slice(i, i + this.sentencesPerCall));
    const wantLogprobs = this.chat.settings.method === 'logprobs';
    const answers = await Promise.all(
      batches.map(async (batch) => {
        const { answer, logprobs } = await this.chat.structured(
          'simulation',
          simulatorMessages(label, batch),
          SimulationAnswer,
          (a) => {
            if (a.sentences.length !== batch.length) return `${a.sentences.length} sentences answered, ${batch.length} asked`;
            const i = a.sentences.findIndex((s, j) => s.activations.length !== batch[j]!.length);
            return i < 0 ? undefined : `sentence ${i}: ${a.sentences[i]!.activations.length} activations for ${batch[i]!.length} tokens`;
          },
          { logprobs: wantLogprobs },
        );
        const written = answer.sentences.map((s) => s.activations);
        if (!wantLogprobs) return written;
        const expected = logprobs ? expectedActivations(logprobs, batch.map((s) => s.length)) : undefined;
        if (expected) return expected;
        this.fallBack(logprobs ? 'the logprobs did not spell out the answer\'s numbers' : 'the endpoint returned no logprobs (or refused to)');
        return written;
      }),
    );
    return answers.flat();
  }

  private fallBack(why: string): void {
    this.method = 'json';
    const note = `simulator.method logprobs: ${why}; used the activations the model wrote (json)`;
    if (!this.notes.includes(note)) this.notes.push(note);
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 300);
}
