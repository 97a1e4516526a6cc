// The `legible` command: setup (the Temporal CLI), validate (pipeline files), run (a pipeline, end to end, on
// Temporal) and schema (the pipeline JSON Schema). `legible help` lists them.
import { parseArgs } from 'node:util';
import { loadPipelineFile, PipelineError } from '../pipelines/load';
import { expandPlan, DEFAULT_QUEUE_PREFIX } from '../pipelines/plan';
import { pipelineJsonSchema, type Pipeline, type ResourceTag } from '../pipelines/schema';
import { startPipelineRun, workflowUrl } from '../temporal/client';
import { connectOrStartServer, defaultAddress, ensureTemporalCli, stateDir } from '../temporal/server';
import { ALL_TAGS, installQuietRuntime, startWorkers } from '../temporal/workers';
import { formatReport } from './report';

const USAGE = `Usage: legible <command> [options]

Commands:
  run FILE        Validate the pipeline, then run it on Temporal and print the per-layer report.
                  Connects to TEMPORAL_ADDRESS (default localhost:7233); starts a local dev server if none answers.
                  --no-workers   only start the workflow (workers started with \`npm run worker\` do the work)
  validate FILE…  Check pipeline files; prints each problem as file:line:column: key: message.
  schema          Print the JSON Schema of pipeline files.
  setup           Find or build the Temporal CLI (into .tools/bin, with Go).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return validate(rest);
    case 'run':
      return run(rest);
    case 'schema':
      console.log(JSON.stringify(pipelineJsonSchema(), null, 2));
      return 0;
    case 'setup':
      console.log(`Temporal CLI: ${ensureTemporalCli()}`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`legible: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function validate(files: string[]): number {
  if (files.length === 0) {
    console.error('legible validate: name at least one pipeline file');
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    try {
      const { pipeline } = loadPipelineFile(file);
      console.log(`${file}: ok (${pipeline.name}: ${pipeline.model.hidden.map((h) => `${h.name}[${h.width}]`).join(' → ')})`);
    } catch (err) {
      if (!(err instanceof PipelineError)) throw err;
      console.error(err.message);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'no-workers': { type: 'boolean', default: false } } });
  if (positionals.length !== 1) {
    console.error('legible run: name exactly one pipeline file');
    return 2;
  }
  let loaded;
  try {
    loaded = loadPipelineFile(positionals[0]!);
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    console.error(err.message);
    return 1;
  }
  const plan = expandPlan(loaded.pipeline, loaded.text);
  installQuietRuntime();
  const server = await connectOrStartServer(defaultAddress());
  const workers = values['no-workers']
    ? undefined
    : await startWorkers({ address: server.address, tags: ALL_TAGS, workflows: true, storeRoot: stateDir(), queuePrefix: DEFAULT_QUEUE_PREFIX, concurrency: llmConcurrency(loaded.pipeline) });
  try {
    const started = performance.now();
    const { workflowId, handle } = await startPipelineRun(server.connection, plan, loaded.text);
    console.log(`Started ${workflowId}\n  ${workflowUrl(server.uiUrl, workflowId)}`);
    const report = await (workers ? Promise.race([handle.result(), workers.done.then(() => handle.result())]) : handle.result());
    console.log(`\n${formatReport(report)}`);
    console.log(`\nworkflow ${workflowId} finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    console.log(`Temporal UI: ${workflowUrl(server.uiUrl, workflowId)}`);
    return 0;
  } finally {
    await workers?.shutdown();
    await server.close();
  }
}

/** An LLM endpoint's concurrency is also the number of explain and simulate activities the llm worker runs at once. */
function llmConcurrency(p: Pipeline): Partial<Record<ResourceTag, number>> {
  const limits = [p.explainer, p.simulator].flatMap((s) => (s.provider === 'openai' ? [s.maxConcurrency] : []));
  return limits.length > 0 ? { llm: Math.max(...limits) } : {};
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`legible: ${err.message}`);
    process.exit(1);
  },
);
