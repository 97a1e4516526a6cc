// A model as it leaves Legible and comes back: a directory with `model.safetensors` (every weight, float32) and
// `config.json` (kind, sizes, tokenizer, vocabulary, which neurons are legible and free, frozen depths). Owns writing
// it (`legible export`), reading it back (`model.from`), and checking that it fits the pipeline it is loaded into.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';
import type { Bundle } from '../store/artifacts';
import { writeAtomically } from '../store/directory';
import type { LanguageModel, ModelMeta, ModelSpec } from './language-model';
import { decodeSafetensors, encodeSafetensors } from './safetensors';

export const MODEL_FILE = 'model.safetensors';
export const CONFIG_FILE = 'config.json';

/** One hidden layer in config.json. */
export interface ExportedLayer {
  name: string;
  depth: number;
  width: number;
  /** Whether the pipeline made this layer legible (its legible neurons aligned to their labels, then frozen). */
  processed: boolean;
  legible: number[];
  free: number[];
}

export interface ExportConfig {
  format: 'legible-model';
  version: 1;
  kind: 'mlp' | 'transformer';
  spec: ModelSpec;
  tokenizer: 'words' | 'gpt2';
  /** Token id → token text, as the tokenizer decodes it (special tokens first: <s>, </s>, <unk>). */
  vocabulary: string[];
  /** gpt2 tokenizer: token id → GPT-2's own id (r50k_base), null for the special tokens. */
  gpt2Ids?: (number | null)[];
  /** How the model reads text: what one example's inputs are and what each position predicts. */
  inputs: string;
  /** Depth of the highest frozen hidden layer (-1: none); everything below it is frozen too. */
  frozenThrough: number;
  layers: ExportedLayer[];
  /** How to read the weights: names, and the orientation of dense matrices. */
  weightLayout: string;
  /** Where the model came from: the run's workflow id, its pipeline's name and the sha256 of its YAML. */
  source?: { run: string; pipeline: string; pipelineHash: string };
}

const WEIGHT_LAYOUT =
  'Dense weights are [inputs, outputs] (y = x·W + b: the transpose of torch.nn.Linear\'s weight). mlp: embedding [vocabulary, embeddingSize]; <layer>.w, <layer>.b per hidden layer (ReLU); output.w, output.b. ' +
  'transformer (pre-layer-norm, learned positions, causal attention, scores scaled by 1/sqrt(dModel/heads)): embedding, position; per block i: x += attn(ln1(x)) with block<i>.ln1.g/.b and block<i>.attn.{q,k,v,out}.w/.b (heads split dModel in equal consecutive slices), ' +
  'then x += mlp<i>.out(act(mlp<i>(ln2(x)))) with block<i>.ln2.g/.b, mlp<i>.w/.b (into the MLP neurons; act is ReLU or GELU in its tanh approximation, as GPT-2) and mlp<i>.out.w/.b; then ln.g/.b and output.w, output.b. Layer norm epsilon 1e-5.';

const INPUTS = {
  mlp: 'One example per token: the ids of the last contextWords tokens up to and including it, padded on the left with <s> (id 0) at a sentence\'s start; it predicts the next token, </s> (id 1) after the sentence\'s last.',
  transformer: 'One example per sentence: its token ids from the first (no <s> before it), padded at the end to contextTokens (the padding is never attended to by real positions, causal attention); position t predicts token t+1, and the last token predicts </s> (id 1).',
};

/** Writes `model.safetensors` and `config.json` into `dir` (made if missing); each file appears whole or not at all. */
export function writeExportedModel(dir: string, model: LanguageModel, about: Omit<ExportConfig, 'format' | 'version' | 'kind' | 'spec' | 'frozenThrough' | 'weightLayout' | 'inputs'>): ExportConfig {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new InvalidInputError(`export: ${dir} is a file, not a directory`);
  mkdirSync(dir, { recursive: true });
  const config: ExportConfig = {
    format: 'legible-model',
    version: 1,
    kind: model.spec.kind ?? 'mlp',
    spec: model.spec,
    frozenThrough: model.meta.frozenThrough,
    weightLayout: WEIGHT_LAYOUT,
    inputs: INPUTS[model.spec.kind ?? 'mlp'],
    ...about,
  };
  writeAtomically(join(dir, MODEL_FILE), encodeSafetensors(model.namedWeights(), { producer: 'legible', kind: config.kind, layout: 'dense weights [inputs, outputs]; see config.json' }));
  writeAtomically(join(dir, CONFIG_FILE), Buffer.from(JSON.stringify(config, null, 2) + '\n'));
  return config;
}

/**
 * The model bundle and config of an exported model directory. Throws an InvalidInputError naming the file where
 * either file is missing or unreadable, or the config is not one `legible export` wrote.
 */
export function readExportedModel(dir: string): { bundle: Bundle<ModelMeta>; config: ExportConfig; modelBytes: Buffer } {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file));
    } catch (err) {
      throw new InvalidInputError(`model.from: cannot read ${join(dir, file)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at a directory written by \`legible export\``);
    }
  };
  const configPath = join(dir, CONFIG_FILE);
  let config: ExportConfig;
  try {
    config = JSON.parse(read(CONFIG_FILE).toString('utf8'));
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError(`model.from: ${configPath} is not JSON (${(err as Error).message})`);
  }
  if (config?.format !== 'legible-model' || config.version !== 1) throw new InvalidInputError(`model.from: ${configPath} was not written by \`legible export\` (no "format": "legible-model", version 1)`);
  const modelBytes = read(MODEL_FILE);
  const { tensors } = decodeSafetensors(modelBytes, join(dir, MODEL_FILE));
  const arrays = Object.fromEntries([...tensors].map(([name, t]) => [name, t.values]));
  return { bundle: { meta: { spec: config.spec, frozenThrough: config.frozenThrough }, arrays }, config, modelBytes };
}

/**
 * Checks that an exported model fits a pipeline: the same kind and sizes (`expected`, from the pipeline's model
 * settings), the same tokenizer and the same vocabulary, token for token. Throws an InvalidInputError naming the first
 * difference.
 */
export function checkExportFits(config: ExportConfig, dir: string, expected: ModelSpec, tokenizer: string, vocabulary: string[]): void {
  const fail = (what: string) => {
    throw new InvalidInputError(`model.from: the model in ${dir} does not fit this pipeline: ${what}`);
  };
  const theirs = config.spec as unknown as Record<string, unknown>;
  const ours = expected as unknown as Record<string, unknown>;
  if ((config.spec.kind ?? 'mlp') !== (expected.kind ?? 'mlp')) fail(`it is a ${config.spec.kind ?? 'mlp'}, the pipeline's model.kind is ${expected.kind ?? 'mlp'}`);
  for (const key of Object.keys(ours)) {
    if (key === 'kind' || key === 'vocabularySize') continue;
    if (JSON.stringify(theirs[key]) !== JSON.stringify(ours[key])) fail(`its ${key} is ${JSON.stringify(theirs[key])}, the pipeline's is ${JSON.stringify(ours[key])}`);
  }
  if (config.tokenizer !== tokenizer) fail(`it reads ${config.tokenizer} tokens, the pipeline's corpus.tokenizer is ${tokenizer}`);
  if (config.vocabulary.length !== vocabulary.length) fail(`its vocabulary has ${config.vocabulary.length} tokens, this pipeline's corpus gives ${vocabulary.length} (the same corpus settings and seed give the same vocabulary)`);
  const at = vocabulary.findIndex((t, i) => config.vocabulary[i] !== t);
  if (at >= 0) fail(`token ${at} of its vocabulary is ${JSON.stringify(config.vocabulary[at])}, this pipeline's corpus has ${JSON.stringify(vocabulary[at])} there (the same corpus settings and seed give the same vocabulary)`);
}
