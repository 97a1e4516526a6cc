// The OpenAI-compatible provider (OpenAI, vLLM, llama.cpp server, Ollama), through the `openai` package. Prompts
// follow OpenAI's automated-interpretability method: the explainer sees a unit's top-activating and random examples
// as token / activation lists discretised to 0–10 (and, optionally, its strongest incoming neurons); the simulator
// predicts 0–10 per token for a batch of sentences in one call. Answers are structured outputs validated by zod.
// Every request and answer is cached in the artifact store by content hash, so a re-run or resumed step makes no
// repeated calls. The API key is read from the worker's environment and goes nowhere else.
import OpenAI from 'openai';
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

type Message = { role: 'system' | 'user'; content: string };

interface CachedAnswer {
  content: string;
  promptTokens: number;
  completionTokens: number;
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
   * Asks for an answer of the given shape. A malformed or incomplete answer (bad JSON, wrong shape, `check` failing)
   * is asked again, up to `answerAttempts` times; then the step fails for good, with the raw answers saved.
   */
  async structured<T>(purpose: string, messages: Message[], schema: z.ZodType<T>, check: (answer: T) => string | undefined = () => undefined): Promise<T> {
    const problems: { attempt: number; content: string; problem: string }[] = [];
    for (let attempt = 1; attempt <= this.settings.answerAttempts; attempt++) {
      const answer = await this.complete(purpose, messages, schema, attempt);
      let problem: string;
      try {
        const parsed = schema.safeParse(JSON.parse(answer.content));
        if (parsed.success) {
          const wrong = check(parsed.data);
          if (!wrong) return parsed.data;
          problem = wrong;
        } else {
          problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`).join('; ');
        }
      } catch (err) {
        problem = `not JSON: ${(err as Error).message}`;
      }
      problems.push({ attempt, content: answer.content, problem });
    }
    const saved = this.store.putJson('malformed-answers', { model: this.settings.model, purpose, messages, answers: problems });
    throw new MalformedAnswerError(
      `${this.settings.model} gave no well-formed ${purpose} answer in ${problems.length} attempts (last: ${problems.at(-1)!.problem}); ` +
        `the answers are saved as artifact ${saved.sha256.slice(0, 12)} in ${this.store.root}`,
    );
  }

  private async complete(purpose: string, messages: Message[], schema: z.ZodType, attempt: number): Promise<CachedAnswer> {
    const request = {
      model: this.settings.model,
      temperature: this.settings.temperature,
      messages,
      response_format: {
        type: 'json_schema' as const,
        json_schema: { name: purpose, strict: true, schema: z.toJSONSchema(schema) as Record<string, unknown> },
      },
    };
    // The cache key is the request itself (and which attempt it is); the key never enters it.
    const { result, reused } = await this.store.memoise('llm-call', { baseURL: this.settings.baseURL ?? null, request, attempt }, async () => {
      const release = await this.limiter.acquire();
      try {
        const completion = await this.client.chat.completions.create(request);
        return {
          content: completion.choices[0]?.message?.content ?? '',
          promptTokens: completion.usage?.prompt_tokens ?? 0,
          completionTokens: completion.usage?.completion_tokens ?? 0,
        };
      } catch (err) {
        throw this.explain(err);
      } finally {
        release();
      }
    });
    if (reused) this.usage.cachedCalls++;
    else {
      this.usage.calls++;
      this.usage.promptTokens += result.promptTokens;
      this.usage.completionTokens += result.completionTokens;
    }
    return result;
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

const ExplanationAnswer = z.strictObject({ explanation: z.string().min(1).max(500) });

const EXPLAINER_SYSTEM =
  "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short document. " +
  'Look at the parts of the document the neuron activates for and summarize in a single short phrase what the neuron is looking for. ' +
  'Activations range from 0 (silent) to 10 (most active); each line is a token and its activation. ' +
  'Answer with JSON: {"explanation": "..."}. Write the phrase so that someone could predict the activations from it alone, ' +
  'for example: words for animals, e.g. "dog", "horse".';

/** The explainer prompt for one unit: examples as token / activation lists, discretised to 0–10. */
export function explainerMessages(req: ExplainRequest): Message[] {
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
    { role: 'system', content: EXPLAINER_SYSTEM },
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
        const answer = await this.chat.structured('explanation', explainerMessages(req), ExplanationAnswer);
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

export class OpenAISimulator implements Simulator {
  readonly name: string;

  constructor(
    private readonly chat: ChatClient,
    private readonly sentencesPerCall: number,
  ) {
    this.name = `openai:${chat.settings.model}`;
  }

  async simulate(label: string, sentences: string[][]): Promise<number[][]> {
    const batches: string[][][] = [];
    for (let i = 0; i < sentences.length; i += this.sentencesPerCall) batches.push(sentences.slice(i, i + this.sentencesPerCall));
    const answers = await Promise.all(
      batches.map((batch) =>
        this.chat.structured('simulation', simulatorMessages(label, batch), SimulationAnswer, (a) => {
          if (a.sentences.length !== batch.length) return `${a.sentences.length} sentences answered, ${batch.length} asked`;
          const i = a.sentences.findIndex((s, j) => s.activations.length !== batch[j]!.length);
          return i < 0 ? undefined : `sentence ${i}: ${a.sentences[i]!.activations.length} activations for ${batch[i]!.length} tokens`;
        }),
      ),
    );
    return answers.flatMap((a) => a.sentences.map((s) => s.activations));
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 300);
}
