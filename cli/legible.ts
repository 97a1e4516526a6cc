// The `legible` command: run a pipeline end to end on Temporal, resume a failed run, list runs and show one's
// status, validate pipeline files, print the pipeline JSON Schema, and set up the Temporal CLI (and the S3 server of the
// S3 store's tests). `legible help`.
import { parseArgs } from 'node:util';
import { buildCorpus } from '../data/corpus';
import { InvalidInputError } from '../data/errors';
import type { WorkflowHandle } from '@temporalio/client';
import { formatProblem, loadPipelineFile, parsePipeline, PipelineError, problemAt } from '../pipelines/load';
import { expandPlan, expandSweep, type Plan, type SweepPlan } from '../pipelines/plan';
import { describePlanSize, planProblems, planSize } from '../pipelines/plan-size';
import { hiddenLayers, pipelineJsonSchema, type Pipeline } from '../pipelines/schema';
import { legibleClient, startPipelineRun, startSweepRun, workflowUrl, type RunMemo } from '../temporal/client';
import { buildId } from '../temporal/build-id';
import { offloadBytes } from '../temporal/payload-codec';
import { listRuns, planResume, queuesWithoutWorkers, resumeRun, stepsOf, type StepRow } from '../temporal/runs';
import { connectOrStartServer, defaultAddress, devServerRecord, ensureTemporalCli, stateDir, stopDevServer, tryConnect, type Server } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, queueOwner, startWorkerProcesses, startWorkers, storeQueuePrefix, type QueueOwner, type RunningWorkers, type WorkerProcesses } from '../temporal/workers';
import type { PipelineReport, SweepReport } from '../workflows/pipeline';
import { progressLine, showProgress } from './progress';
import { openCheckedStore, openStore } from '../store/open';
import { ensureVersitygw, startS3Server } from '../store/s3-server';
import { join, resolve } from 'node:path';
import { checkExportFits, CONFIG_FILE, MODEL_FILE, readExportedModel } from '../nn/exported-model';
import { initBackend } from '../nn/backend';
import { modelSpec } from '../nn/language-model';
import { EXPLANATIONS_FILE, exportRun } from '../report/export';
import { availableParallelism } from 'node:os';
import { writeReport } from '../report/html';
import { reportJson } from '../report/json';
import { currentReport, formatReport, formatSweep } from '../report/text';
import { explainCommand, scoreCommand } from './interpret';

/** Every command, its arguments and what it does: `legible help` lists them, `legible COMMAND --help` shows one. */
const COMMANDS: [name: string, args: string, help: string][] = [
  [
    'run',
    'FILE',
    `Validate the pipeline, then run it on Temporal and print the per-layer report.
Connects to TEMPORAL_ADDRESS (default localhost:7233); starts a local dev server if none answers.
--processes N  worker processes, this one included (default: one per core; tfjs runs one
               thread per process, so sweep points and explain batches use every core)
--no-workers   only start the workflow (workers started with \`npm run worker\` do the work)`,
  ],
  ['resume', 'ID', 'Continue a failed or terminated run from its failed step; finished steps are kept.\nA running run that waits for workers (its command was stopped) gets them here.\n--processes N, --no-workers   as for run'],
  ['runs', '', 'List runs on the server, newest first (pipeline, status, start, duration, whose store:\nthis one or another\'s id, a sweep point\'s settings); --pipeline NAME to filter, --limit N (default 50).'],
  ['status', 'ID', "One run's steps, their state and the latest heartbeat of running ones."],
  [
    'report',
    'ID',
    `Report a finished run or sweep.
--format html  (default) write the HTML report (charts, neuron cards) into --out DIR
--format json  print every figure as JSON (see the README for the fields)
--format text  print the text report, as run prints it`,
  ],
  [
    'export',
    'ID --out DIR',
    `Write a finished run's final model and labels into DIR: model.safetensors (every weight),
config.json (kind, sizes, tokenizer, vocabulary, legible and free neurons, frozen depths) and
explanations.jsonl (one line per unit: layer, index, legible or free, label, scores before/after).
A pipeline's model.from: DIR starts from it.`,
  ],
  ['validate', 'FILE…', 'Check pipeline files; prints each problem as file:line:column: key: message, and\nwarnings for settings without effect. --plan also prints the plan each would run.'],
  ['explain', 'RECORDS', 'Label one unit from activation records (JSONL: {"tokens": [...], "activations": [...]}).'],
  ['score', 'RECORDS', 'Score a label (--label "TEXT") on activation records: correlation over every token.'],
  ['schema', '', 'Print the JSON Schema of pipeline files.'],
  [
    'server',
    'start|stop|status',
    `This store's local Temporal dev server (history in LEGIBLE_HOME/temporal.sqlite, Web UI on port + 1000).
run starts it in the background when none answers and leaves it up, so UI links keep working;
start starts it now, status says whether it runs and where, stop stops it unless a run is
still going on it (--force stops it anyway).`,
  ],
  [
    's3-server',
    'DIR',
    `Serve DIR over the S3 API with Versity's gateway (built by setup --s3-server), to try the S3
store on one machine or a LAN: creates the bucket, prints the settings every process of a run
needs, and serves until Ctrl-C.
--address HOST:PORT   where it listens (default 127.0.0.1:7070; a LAN address for other machines)
--bucket NAME         the bucket (default legible)
Keys: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY if set, else "legible" and a random secret.`,
  ],
  [
    'setup',
    '[--s3-server]',
    `Find or build the Temporal CLI (into .tools/bin, with Go).
--s3-server   also find or build versitygw, the S3 server that the S3 artifact store's tests
              (and trying that store on one machine) run against (VERSITYGW names another)`,
  ],
];

const indent = (text: string, by: number) => text.split('\n').join(`\n${' '.repeat(by)}`);
const USAGE = `Usage: legible <command> [options]   (legible <command> --help for one command)

Commands:
${COMMANDS.map(([name, args, help]) => {
  const head = `${name} ${args}`;
  // A long command line gets its help on the next line, under the others'.
  return `  ${head.length < 16 ? `${head.padEnd(16)}${indent(help, 18)}` : `${head}\n${' '.repeat(18)}${indent(help, 18)}`}`;
}).join('\n')}
`;

/** One command's usage, for `legible COMMAND --help` (explain and score print their own, longer one). */
function commandUsage(name: string): string {
  const [, args, help] = COMMANDS.find(([n]) => n === name)!;
  return `Usage: legible ${name}${args ? ` ${args}` : ''}\n\n${help}`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const known = COMMANDS.some(([name]) => name === command);
  if (known && command !== 'explain' && command !== 'score' && rest.some((a) => a === '--help' || a === '-h')) {
    console.log(commandUsage(command!));
    return 0;
  }
  try {
    return await runCommand(command, rest);
  } catch (err) {
    // Options a command does not know, or that lack their value: name the command and show its usage.
    if (!known || !(err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw err;
    console.error(`legible ${command}: ${(err as Error).message.split('. To specify')[0]}\n\n${commandUsage(command!)}`);
    return 2;
  }
}

async function runCommand(command: string | undefined, rest: string[]): Promise<number> {
  switch (command) {
    case 'validate':
      return validate(rest);
    case 'run':
      return run(rest);
    case 'resume':
      return resume(rest);
    case 'runs':
      return runs(rest);
    case 'status':
      return status(rest);
    case 'report':
      return report(rest);
    case 'export':
      return exportCommand(rest);
    case 'explain':
      return explainCommand(rest);
    case 'score':
      return scoreCommand(rest);
    case 'setup':
      return setup(rest);
    case 's3-server':
      return s3Server(rest);
    case 'schema':
      if (rest.length > 0) {
        console.error(`legible ${command}: takes no arguments, not "${rest.join(' ')}"\n\n${commandUsage(command)}`);
        return 2;
      }
      console.log(JSON.stringify(pipelineJsonSchema(), null, 2));
      return 0;
    case 'server':
      return server(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`legible: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** `legible setup [--s3-server]`: finds or builds the Temporal CLI, and with --s3-server the S3 gateway too. */
function setup(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 's3-server': { type: 'boolean', default: false } } });
  if (positionals.length > 0) {
    console.error(`legible setup: takes no arguments, not "${positionals.join(' ')}"\n\n${commandUsage('setup')}`);
    return 2;
  }
  console.log(`Temporal CLI: ${ensureTemporalCli()}`);
  if (values['s3-server']) console.log(`S3 server (versitygw): ${ensureVersitygw()}`);
  return 0;
}

/** `legible s3-server DIR`: Versity's S3 gateway in the foreground, with a bucket and the settings to export. */
async function s3Server(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { address: { type: 'string', default: '127.0.0.1:7070' }, bucket: { type: 'string', default: 'legible' } } });
  if (positionals.length !== 1) {
    console.error(`legible s3-server: name one directory to serve\n\n${commandUsage('s3-server')}`);
    return 2;
  }
  const keys = process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY ? { accessKey: process.env.AWS_ACCESS_KEY_ID, secretKey: process.env.AWS_SECRET_ACCESS_KEY } : {};
  const s3 = await startS3Server({ dir: resolve(positionals[0]!), addresses: [values.address], buckets: [values.bucket], ...keys });
  console.log(
    `Serving ${resolve(positionals[0]!)} over S3 at ${s3.endpoint}, bucket ${values.bucket} (log: ${s3.logFile}). In every process of a run:\n` +
      `  export LEGIBLE_STORE=s3://${values.bucket}/legible AWS_ENDPOINT_URL_S3=${s3.endpoint} AWS_ACCESS_KEY_ID=${s3.accessKey} AWS_SECRET_ACCESS_KEY=${s3.secretKey}\n` +
      'Ctrl-C stops it.',
  );
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await new Promise((stop) => ['SIGINT', 'SIGTERM'].forEach((signal) => process.once(signal, stop)));
  clearInterval(keepAlive);
  await s3.stop();
  return 0;
}

function validate(args: string[]): number {
  const { values, positionals: files } = parseArgs({ args, allowPositionals: true, options: { plan: { type: 'boolean', default: false } } });
  if (files.length === 0) {
    console.error('legible validate: name at least one pipeline file');
    return 2;
  }
  let failed = 0;
  // Every file is checked, whatever the ones before it held.
  for (const file of files) {
    try {
      const { pipeline, text, warnings } = loadPipelineFile(file);
      checkCorpus(file, pipeline, text);
      const plan = checkPlanSize(file, pipeline, text);
      for (const w of warnings) console.error(`${formatProblem(w)} (warning)`);
      console.log(`${file}: ok (${pipeline.name}: ${hiddenLayers(pipeline.model).map((h) => `${h.name}[${h.width}]`).join(' → ')})\n  on Temporal: ${describePlanSize(plan, offloadBytes())}`);
      if (values.plan) console.log(describePlan(plan));
    } catch (err) {
      if (!(err instanceof PipelineError)) throw err;
      console.error(err.message);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

/** The plan a run would follow, for `legible validate --plan`: each run's layers and legible neurons, and sweep points. */
function describePlan(plan: Plan | SweepPlan): string {
  const runs = 'points' in plan ? plan.points.map((p, i) => ({ title: `point ${i} (${Object.entries(p.settings).map(([k, v]) => `${k} ${v}`).join(', ')})`, plan: p.plan })) : [{ title: `the run (seed ${plan.pipeline.seed})`, plan }];
  return runs
    .map(({ title, plan: p }) => {
      const layers = p.layers.map((l) => `    ${l.name} (depth ${l.depth}): ${l.legibleUnits} of ${l.width} neurons legible (fraction ${l.legibleFraction})${l.dictionary ? `, dictionary ${l.dictionary.kind} ×${l.dictionary.expansion}` : ''}`);
      const size = planSize(p);
      return [`  ${title}: ${size.activities} activities`, ...layers].join('\n');
    })
    .join('\n');
}

/** Seeds whose corpus validate builds: a sweep over many seeds is checked on its first few (each takes a second or two). */
const CORPUS_SEEDS_CHECKED = 3;

/**
 * Builds the corpus of the pipeline's seed (of a sweep's first CORPUS_SEEDS_CHECKED seeds), so that a corpus too
 * small for its splits once duplicates are removed is refused before anything runs, as a problem of the file. (A
 * later seed's too-small corpus fails that sweep point alone, at its first step.)
 */
function checkCorpus(file: string, pipeline: Pipeline, text: string): void {
  const from = pipeline.model.from;
  let exported: ReturnType<typeof readExportedModel>['config'] | undefined;
  for (const seed of (pipeline.sweep?.seed ?? [pipeline.seed]).slice(0, CORPUS_SEEDS_CHECKED)) {
    // A problem at the key its message names first (e.g. "corpus.paths: …", "model.from: …"), else at `fallback`.
    const problem = (err: unknown, fallback: string) => {
      if (!(err instanceof InvalidInputError)) throw err;
      const named = /^((?:corpus|model)\.[A-Za-z.]+): /.exec(err.message);
      const message = `${named ? err.message.slice(named[0].length) : err.message}${pipeline.sweep?.seed ? ` (seed ${seed})` : ''}`;
      return new PipelineError([problemAt(text, file, (named?.[1] ?? fallback).split('.'), message)]);
    };
    let corpus: ReturnType<typeof buildCorpus>;
    try {
      corpus = buildCorpus({ ...pipeline, seed });
    } catch (err) {
      throw problem(err, 'corpus');
    }
    if (from) {
      try {
        // Read once: each seed's vocabulary is checked against the same export.
        exported ??= readExportedModel(from).config;
        checkExportFits(exported, from, modelSpec(pipeline.model, corpus.meta.vocabulary.length), corpus.meta.tokenizer, corpus.meta.vocabulary);
      } catch (err) {
        throw problem(err, 'model.from');
      }
    }
  }
}

/** Refuses, as a problem of the file, a plan that Temporal's limits would stop part-way (pipelines/plan-size.ts). */
function checkPlanSize(file: string, pipeline: Pipeline, text: string) {
  const plan = pipeline.sweep ? expandSweep(pipeline, text) : expandPlan(pipeline, text);
  const problems = planProblems(plan);
  if (problems.length > 0) throw new PipelineError(problems.map((message) => ({ file, line: 1, column: 1, path: 'model.hidden', message })));
  return plan;
}

const WORKER_OPTIONS = { 'no-workers': { type: 'boolean', default: false }, processes: { type: 'string' } } as const;

/** --processes: how many worker processes serve the run, this one included; by default one per core. */
function processCount(value: string | undefined, command: string): number | undefined {
  if (value === undefined) return availableParallelism();
  if (/^[1-9]\d*$/.test(value)) return Number(value);
  console.error(`legible ${command}: --processes "${value}" is not a positive whole number`);
  return undefined;
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: WORKER_OPTIONS });
  if (positionals.length !== 1) {
    console.error('legible run: name exactly one pipeline file');
    return 2;
  }
  const processes = processCount(values.processes, 'run');
  if (processes === undefined) return 2;
  let loaded;
  try {
    loaded = loadPipelineFile(positionals[0]!);
    checkCorpus(loaded.file, loaded.pipeline, loaded.text);
    checkPlanSize(loaded.file, loaded.pipeline, loaded.text);
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    console.error(err.message);
    return 1;
  }
  const { pipeline, text } = loaded;
  for (const w of loaded.warnings) console.error(`${formatProblem(w)} (warning)`);
  // Bad store settings (LEGIBLE_STORE, AWS_*) fail here, before anything starts.
  await openCheckedStore(stateDir());
  // This store's task queues: workers of other stores on the same server never take this run's work.
  const queuePrefix = await storeQueuePrefix(stateDir());
  return withTemporal({ workers: values['no-workers'] ? undefined : { processes, pipeline, queuePrefix } }, async ({ server, workers }) => {
    if (pipeline.sweep) {
      const sweep = expandSweep(pipeline, text, queuePrefix);
      const { workflowId, handle } = await startSweepRun(server.connection, sweep, text, { queuePrefix, storeRoot: stateDir() });
      console.log(`Started sweep ${workflowId} (${sweep.points.length} points, each a child workflow)\n  ${workflowUrl(server.uiUrl, workflowId)}`);
      return followRun(workflowId, handle, server, workers);
    }
    const { workflowId, handle } = await startPipelineRun(server.connection, expandPlan(pipeline, text, queuePrefix), text, { queuePrefix, storeRoot: stateDir() });
    console.log(`Started ${workflowId}\n  ${workflowUrl(server.uiUrl, workflowId)}`);
    return followRun(workflowId, handle, server, workers);
  });
}

async function resume(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: WORKER_OPTIONS });
  if (positionals.length !== 1) {
    console.error('legible resume: name the workflow id of a failed or terminated run');
    return 2;
  }
  const processes = processCount(values.processes, 'resume');
  if (processes === undefined) return 2;
  const workflowId = positionals[0]!;
  return withTemporal({}, async ({ server }) => {
    const client = legibleClient(server.connection, stateDir());
    const described = await client.workflow.getHandle(workflowId).describe();
    const memo = described.memo as RunMemo | undefined;
    // A run goes on on its own task queues, with the code that started it: this store's and this build's, or the
    // shared ones of runs started before stores and builds had them.
    const owner = await ownRun(workflowId, described.taskQueue, memo, 'resume');
    if (owner.build && owner.build !== buildId())
      throw new InvalidInputError(
        `${workflowId} was started by code of build ${owner.build}, and this checkout is build ${buildId()}: a run goes on only on the code that started it (a replay on other code can break it). Resume it from a checkout of that code, or run the pipeline again here with \`legible run\` (steps whose inputs are unchanged reuse their stored results).`,
      );
    const pipeline = memo?.pipelineYaml ? parsePipeline(memo.pipelineYaml, `${workflowId} (memo)`) : undefined;
    /** Runs `body` with workers for the run's own queues here (unless --no-workers), and stops them after. */
    const serve = async (body: (workers?: RunningWorkers) => Promise<number>): Promise<number> => {
      const workers = values['no-workers'] ? undefined : await startAllWorkers(server, { processes, queuePrefix: owner.prefix, ...(pipeline ? { pipeline } : {}) });
      try {
        return await body(workers);
      } finally {
        await workers?.shutdown();
      }
    };
    if (described.status.name === 'RUNNING') {
      // A run whose command was stopped goes on on the server, waiting for workers: serve it (beside any others).
      if (values['no-workers']) {
        console.log(`${workflowId} is running: follow it with \`legible status ${workflowId}\``);
        return 0;
      }
      const idle = await queuesWithoutWorkers(client, described.taskQueue, ALL_TAGS);
      console.log(`${workflowId} is running${idle.length > 0 ? ` and waits for workers (none has polled ${idle.join(', ')} lately)` : ''}: starting workers for it here.`);
      return serve((workers) => followRun(workflowId, client.workflow.getHandle(workflowId), server, workers));
    }
    if (described.status.name === 'COMPLETED' && described.type === 'legibleSweep') {
      // A sweep whose points failed completed without them: run it again under its id, keeping the finished points.
      const earlier = (await client.workflow.getHandle(workflowId).result()) as SweepReport;
      if (!earlier.failed?.length) throw new InvalidInputError(`${workflowId} completed with every point: nothing to resume`);
      if (!pipeline || !memo?.pipelineYaml) throw new InvalidInputError(`${workflowId} has no pipeline in its memo to run again`);
      console.log(`Resuming sweep ${workflowId}: ${earlier.points.length} finished points are kept, ${earlier.failed.length} run again (their finished steps reuse their stored results):\n  ${earlier.failed.map((f) => f.workflowId).join('\n  ')}`);
      const sweep = expandSweep(pipeline, memo.pipelineYaml, owner.prefix);
      return serve(async (workers) => {
        const { handle } = await startSweepRun(server.connection, sweep, memo.pipelineYaml!, { queuePrefix: owner.prefix, storeRoot: stateDir(), workflowId, resumed: { done: earlier.points } });
        return followRun(workflowId, handle, server, workers);
      });
    }
    const plan = await planResume(client, workflowId);
    console.log(`Resuming ${workflowId}: ${plan.skipped.length} finished steps are kept, ${plan.rerun.length} run again.`);
    const name = (s: StepRow) => `${s.kind} (${s.summary})`;
    if (plan.skipped.length > 0) console.log(`  kept:\n    ${plan.skipped.map(name).join('\n    ')}`);
    console.log(`  again:\n    ${plan.rerun.map((s) => `${name(s)}${s.state === 'completed' ? `: finished before, reuses ${s.child ? 'the stored results of its steps' : 'its stored result'}` : `: ${s.state}${s.child ? ' (its finished steps reuse their stored results)' : ''}`}`).join('\n    ')}`);
    return serve(async (workers) => followRun(workflowId, client.workflow.getHandle(workflowId, await resumeRun(client, plan)), server, workers));
  });
}

async function runs(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { pipeline: { type: 'string' }, limit: { type: 'string', default: '50' } } });
  if (!/^[1-9]\d*$/.test(values.limit!)) {
    console.error(`legible runs: --limit "${values.limit}" is not a positive whole number`);
    return 2;
  }
  return withTemporal({}, async ({ server }) => {
    const rows = await listRuns(legibleClient(server.connection, stateDir()), { ...(values.pipeline ? { pipeline: values.pipeline } : {}), limit: Number(values.limit) });
    if (rows.length === 0) {
      console.log(values.pipeline ? `no runs of pipeline "${values.pipeline}" on this server (\`legible runs\` lists every pipeline's)` : 'no Legible runs on this server');
      return 0;
    }
    const settings = (r: (typeof rows)[number]) => (r.settings ? Object.entries(r.settings).map(([k, v]) => `${k} ${v}`).join(', ') : '');
    // Whose run it is: this store's, another store's (by its id), or from before stores had ids.
    const own = await openStore(stateDir()).id();
    const store = (r: (typeof rows)[number]) => {
      const id = queueOwner(r.taskQueue)?.store;
      return id === undefined ? '-' : id === own ? 'this' : id;
    };
    const table = [['workflow id', 'pipeline', 'status', 'started', 'duration', 'store', 'sweep point'], ...rows.map((r) => [r.workflowId, r.pipeline, r.status, r.start.toISOString().replace('T', ' ').slice(0, 19), r.durationSeconds === undefined ? '-' : `${r.durationSeconds.toFixed(0)} s`, store(r), settings(r)])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    return 0;
  });
}

async function status(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (positionals.length !== 1) {
    console.error('legible status: name a workflow id');
    return 2;
  }
  return withTemporal({}, async ({ server }) => {
    const client = legibleClient(server.connection, stateDir());
    const handle = client.workflow.getHandle(positionals[0]!);
    const d = await handle.describe();
    console.log(`${d.workflowId}: ${d.status.name}, started ${d.startTime.toISOString()}`);
    console.log(`  ${workflowUrl(server.uiUrl, d.workflowId)}`);
    if (d.status.name === 'RUNNING') {
      const idle = await queuesWithoutWorkers(client, d.taskQueue, ALL_TAGS);
      const build = queueOwner(d.taskQueue)?.build;
      if (idle.length > 0)
        console.log(`  waiting: no worker${build ? ` of build ${build}` : ''} has polled ${idle.join(', ')} in the last 90 s; start one from a checkout of ${build === undefined || build === buildId() ? 'this' : 'that'} code with its store (\`npm run worker\`)${build && build !== buildId() ? `, this checkout is build ${buildId()}` : ''}`);
      console.log(`  now: ${await progressLine(handle)}`);
    }
    // A workflow task that keeps failing (a nondeterminism error, a bug in workflow code) stalls the run: say why.
    const events = (await handle.fetchHistory()).events ?? [];
    const lastTask = events.filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskCompletedEventAttributes).at(-1);
    if (d.status.name === 'RUNNING' && lastTask?.workflowTaskFailedEventAttributes)
      console.log(`  stalled: its last workflow task failed (${lastTask.workflowTaskFailedEventAttributes.identity ?? 'unknown worker'}): ${lastTask.workflowTaskFailedEventAttributes.failure?.message ?? 'no message'}`);
    // A child workflow (a layer, a fan-out) that has not finished shows its own steps beneath it.
    const printSteps = async (workflowId: string, depth: number): Promise<void> => {
      for (const step of stepsOf((await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [])) {
        // A child of a closed (e.g. terminated) workflow was closed with it, though its parent's history does not say so.
        if (step.child && step.state === 'running') {
          const closed = (await client.workflow.getHandle(step.child).describe().catch(() => undefined))?.status.name;
          if (closed && closed !== 'RUNNING') step.state = closed === 'COMPLETED' ? 'completed' : closed === 'TIMED_OUT' ? 'timed out' : closed === 'FAILED' ? 'failed' : 'cancelled';
        }
        console.log(`${'  '.repeat(depth)}${step.state.padEnd(10)} ${step.kind} (${step.summary})${step.attempt > 1 ? ` (attempt ${step.attempt})` : ''}${step.reused ? ' (stored result)' : ''}${step.failure ? `: ${step.failure}` : ''}`);
        if (step.child && step.state !== 'completed' && step.state !== 'scheduled') await printSteps(step.child, depth + 1);
      }
    };
    await printSteps(d.workflowId, 1);
    return 0;
  });
}

async function report(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, format: { type: 'string', default: 'html' } } });
  if (positionals.length !== 1) {
    console.error('legible report: name the workflow id of a finished run or sweep');
    return 2;
  }
  if (!['html', 'json', 'text'].includes(values.format!)) {
    console.error(`legible report: --format must be html, json or text, not "${values.format}"`);
    return 2;
  }
  if (values.out !== undefined && values.format !== 'html') {
    console.error(`legible report: --out is where the HTML report goes; --format ${values.format} prints to standard output`);
    return 2;
  }
  const workflowId = positionals[0]!;
  return withTemporal({}, async ({ server }) => {
    const handle = legibleClient(server.connection, stateDir()).workflow.getHandle(workflowId);
    const d = await handle.describe();
    if (d.status.name !== 'COMPLETED') throw new Error(`${workflowId} is ${d.status.name}: a report needs a completed run`);
    // Its artifacts (and large payloads) are in the store that ran it.
    await ownRun(workflowId, d.taskQueue, d.memo as RunMemo | undefined, 'report');
    const result = (await handle.result()) as PipelineReport | SweepReport;
    if (values.format === 'json') {
      console.log(reportJson(workflowId, result));
      return 0;
    }
    if (values.format === 'text') {
      console.log('points' in result ? formatSweep(result) : formatReport(currentReport(result, workflowId)));
      return 0;
    }
    const out = values.out ?? join(stateDir(), 'reports', workflowId);
    const pipelineYaml = (d.memo as RunMemo | undefined)?.pipelineYaml;
    const written = await writeReport(out, workflowId, result, await openCheckedStore(stateDir()), pipelineYaml);
    console.log(`Report: ${written.html}\n  and ${written.charts.length} charts (SVG) beside it`);
    return 0;
  });
}

async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' } } });
  if (positionals.length !== 1 || values.out === undefined) {
    console.error(`legible export: name the workflow id of a finished run and --out DIR\n\n${commandUsage('export')}`);
    return 2;
  }
  const workflowId = positionals[0]!;
  return withTemporal({}, async ({ server }) => {
    const handle = legibleClient(server.connection, stateDir()).workflow.getHandle(workflowId);
    const d = await handle.describe();
    if (d.status.name !== 'COMPLETED') throw new Error(`${workflowId} is ${d.status.name}: export needs a completed run`);
    await ownRun(workflowId, d.taskQueue, d.memo as RunMemo | undefined, 'export');
    const result = (await handle.result()) as PipelineReport | SweepReport;
    if ('points' in result) {
      throw new InvalidInputError(`${workflowId} is a sweep: export one of its points (${result.points.map((p) => p.workflowId).join(', ')})`);
    }
    const out = resolve(values.out!);
    await initBackend();
    const { config, explanations } = await exportRun(await openCheckedStore(stateDir()), currentReport(result, workflowId), workflowId, out);
    console.log(`Exported ${workflowId} to ${out}:\n  ${MODEL_FILE} (${config.kind}, ${config.spec.hidden.map((h) => `${h.name}[${h.width}]`).join(' → ')}), ${CONFIG_FILE}, ${EXPLANATIONS_FILE} (${explanations} units)`);
    return 0;
  });
}

/** `legible server start|stop|status`: the store's background dev server. */
async function server(args: string[]): Promise<number> {
  const [action, ...extra] = args;
  const force = extra[0] === '--force' && action === 'stop';
  if (!['start', 'stop', 'status'].includes(action ?? '') || extra.length > (force ? 1 : 0)) {
    console.error(`legible server: say start, stop or status\n\n${commandUsage('server')}`);
    return 2;
  }
  if (action === 'stop') {
    const running = devServerRecord();
    const connection = running && !force ? await tryConnect(running.address) : undefined;
    if (connection) {
      // Every run on this server depends on it, whichever store it belongs to.
      const open: string[] = [];
      // Runs, not their layers' and fan-outs' child workflows.
      for await (const w of legibleClient(connection, stateDir()).workflow.list({ query: 'ExecutionStatus = "Running"' })) if (!w.parentExecution) open.push(w.workflowId);
      await connection.close();
      if (open.length > 0) {
        console.error(`legible server stop: ${open.length} run${open.length === 1 ? ' is' : 's are'} still going on this server (${open.slice(0, 3).join(', ')}${open.length > 3 ? ', …' : ''}); stopping it would strand ${open.length === 1 ? 'it' : 'them'}. Wait, or stop anyway with --force.`);
        return 1;
      }
    }
    const stopped = await stopDevServer();
    console.log(stopped ? `stopped the dev server at ${stopped.address} (pid ${stopped.pid})` : `no dev server of this store runs (${stateDir()})`);
    return 0;
  }
  const record = devServerRecord();
  if (action === 'status') {
    const answers = record ? await tryConnect(record.address) : await tryConnect(defaultAddress());
    await answers?.close();
    if (record) console.log(`the dev server of ${stateDir()} runs at ${record.address} (pid ${record.pid}, since ${record.startedAt})${answers ? '' : ', but does not answer'}\n  Web UI: ${record.uiUrl}\n  history: ${record.dbFile}\n  log: ${record.logFile}`);
    else console.log(`no dev server of this store runs (${stateDir()})${answers ? `; a Temporal server answers at ${defaultAddress()}` : ''}`);
    return record && !answers ? 1 : 0;
  }
  const started = await connectOrStartServer(defaultAddress());
  await started.close();
  const now = devServerRecord();
  console.log(now ? `the dev server runs at ${now.address} (pid ${now.pid}); Web UI: ${now.uiUrl}` : `a Temporal server already answers at ${defaultAddress()} (not started by this store)`);
  return 0;
}

interface WorkerLayout {
  /** Worker processes, this one included. */
  processes: number;
  /** The task queues they poll: the store's own for a new run, the run's own for a resumed one. */
  queuePrefix: string;
  pipeline?: Pipeline;
}

/** Connects to (or starts) the Temporal server and, if asked, workers for every tag; closes them after. */
async function withTemporal<T>(o: { workers?: WorkerLayout }, body: (ctx: { server: Server; workers?: RunningWorkers }) => Promise<T>): Promise<T> {
  installQuietRuntime({ failures: false });
  const server = await connectOrStartServer(defaultAddress());
  const workers = o.workers ? await startAllWorkers(server, o.workers) : undefined;
  try {
    return await body({ server, ...(workers ? { workers } : {}) });
  } finally {
    await workers?.shutdown();
    await server.close();
  }
}

/** A run's result; fails early if the in-process workers stop (one of them failed). */
function untilDone<T>(result: Promise<T>, workers?: RunningWorkers): Promise<T> {
  return workers ? Promise.race([result, workers.done.then(() => result)]) : result;
}

/**
 * Workers in this process for the workflows and every tag, and `processes - 1` worker processes beside it. Where
 * every provider is embedded (CPU-bound), each process runs one llm activity at a time, so that a layer's explain
 * and simulate batches spread over the processes. An OpenAI endpoint's concurrency and request rate are enforced
 * per process, so its calls stay in this one, with the endpoint's concurrency.
 */
async function startAllWorkers(server: Server, layout: WorkerLayout): Promise<RunningWorkers> {
  const endpoint = layout.pipeline ? openAIConcurrency(layout.pipeline) : undefined;
  const embedded = layout.pipeline !== undefined && endpoint === undefined;
  const concurrency = endpoint !== undefined ? { llm: endpoint } : embedded ? { llm: 1 } : {};
  const inProcess = await startWorkers({ address: server.address, tags: ALL_TAGS, workflows: true, storeRoot: stateDir(), queuePrefix: layout.queuePrefix, concurrency });
  if (layout.processes <= 1) return inProcess;
  let beside: WorkerProcesses;
  try {
    beside = await startWorkerProcesses(layout.processes - 1, { address: server.address, storeRoot: stateDir(), queuePrefix: layout.queuePrefix, tags: embedded ? ALL_TAGS : ['gpu', 'cpu'], concurrency: { llm: 1 } });
  } catch (err) {
    await inProcess.shutdown();
    throw err;
  }
  return {
    ...inProcess,
    async shutdown() {
      await Promise.all([inProcess.shutdown(), beside.shutdown()]);
    },
  };
}

/**
 * Follows a run or a sweep to its end with live progress (the first Ctrl-C hands it over to the server) and prints
 * its report; exit code 1 where sweep points failed.
 */
async function followRun(workflowId: string, handle: WorkflowHandle, server: Server, workers?: RunningWorkers): Promise<number> {
  const started = performance.now();
  const stopOnSignal = handOverOnSignal(workflowId, server, workers);
  const result = untilDone(handle.result() as Promise<PipelineReport | SweepReport>, workers);
  await showProgress(handle, result).finally(stopOnSignal);
  const report = await result;
  const sweep = 'points' in report;
  console.log(`\n${sweep ? formatSweep(report) : formatReport(currentReport(report, workflowId))}`);
  console.log(`\n${sweep ? 'sweep' : 'workflow'} ${workflowId} finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(`Temporal UI: ${workflowUrl(server.uiUrl, workflowId)}${sweep ? `\nReport: npx legible report ${workflowId}` : ''}`);
  return sweep && report.failed?.length ? 1 : 0;
}

/**
 * The store and build of a run (from its workflow task queue), refusing a run of another store, whose artifacts and
 * large payloads are there: `command` it with that store's LEGIBLE_HOME (kept in the memo).
 */
async function ownRun(workflowId: string, taskQueue: string, memo: RunMemo | undefined, command: string): Promise<QueueOwner> {
  const owner = queueOwner(taskQueue);
  if (!owner || (owner.store && owner.store !== (await openStore(stateDir()).id()))) {
    const where = memo?.store ? `LEGIBLE_STORE=${memo.store} (and that store's AWS_* settings)` : memo?.storeRoot ? `LEGIBLE_HOME=${memo.storeRoot}` : 'the LEGIBLE_HOME it was started with';
    throw new InvalidInputError(`${workflowId} belongs to another store (its task queues are ${taskQueue.replace(/-workflows$/, '-*')}, this store's ${await storeQueuePrefix(stateDir())}-*, ${openStore(stateDir()).location}): ${command} it with ${where}`);
  }
  return owner;
}

/**
 * While this command waits for a run: the first Ctrl-C (SIGINT) or SIGTERM stops this process's workers (a running
 * step is cancelled through its heartbeat and keeps its last checkpoint), says that the run goes on on the server and
 * how to continue it, and exits within 10 s; a second signal exits at once. Returns the function that removes the
 * handlers (once the run is over).
 */
function handOverOnSignal(workflowId: string, server: Server, workers?: RunningWorkers): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (stopping) process.exit(code);
    stopping = true;
    console.error(
      `\n${signal}: stopping this command${workers ? "'s workers" : ''}. The run ${workflowId} goes on on the Temporal server${workers ? ' and waits for workers' : ''}:\n` +
        `  continue it with \`TEMPORAL_ADDRESS=${server.address} LEGIBLE_HOME=${stateDir()}${process.env.LEGIBLE_STORE ? ` LEGIBLE_STORE=${process.env.LEGIBLE_STORE}` : ''} legible resume ${workflowId}\`${process.env.LEGIBLE_STORE ? ' (with the same AWS_* settings)' : ''}, or start workers with \`npm run worker\` there;\n` +
        `  a step stopped this way uses one of its attempts (steps.<kind>.retry.maximumAttempts) and goes on from its last checkpoint\n` +
        `  ${workflowUrl(server.uiUrl, workflowId)}\n(again to exit at once)`,
    );
    setTimeout(() => process.exit(code), 10_000).unref();
    void (workers?.shutdown() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** The largest concurrency of the pipeline's OpenAI endpoints (explain and simulate activities at once), if it has any. */
function openAIConcurrency(p: Pipeline): number | undefined {
  const limits = [p.explainer, p.simulator].flatMap((s) => (s.provider === 'openai' ? [s.maxConcurrency] : []));
  return limits.length > 0 ? Math.max(...limits) : undefined;
}

/**
 * What went wrong, in the user's words: a failed workflow's own message is only "Workflow execution failed"; the
 * cause chain holds the failing step and its error (an activity failure wrapping an application failure).
 */
export function failureMessage(err: Error): string {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  const activity = chain.find((e) => e.name === 'ActivityFailure') as (Error & { activityType?: string }) | undefined;
  const root = chain.at(-1)!;
  // The server refuses a payload its limit (limit.blobSize.error) does not allow: payloads above LEGIBLE_OFFLOAD_BYTES go to the store.
  if (chain.some((e) => /Blob data size exceeds limit/i.test(e.message)))
    return `${err.message}: this server's payload limit is below LEGIBLE_OFFLOAD_BYTES (${offloadBytes()} bytes); set LEGIBLE_OFFLOAD_BYTES under the server's limit.blobSize.error (workers too), so that larger payloads are kept in the artifact store`;
  if (chain.length === 1) return err.message;
  return `${err.message}${activity?.activityType ? ` at step ${activity.activityType}` : ''}: ${root.message}`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error & { code?: string }) => {
    console.error(`legible: ${failureMessage(err)}`);
    // Options the command does not know or that lack their value are usage errors, like a missing argument.
    process.exit(err.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
  },
);
