// Benchmark: the transformer example (pipelines/transformer.yaml) end to end as a user runs it, `legible run` with
// its worker processes, on a dev server of its own and an empty artifact store (nothing reused): the command's wall
// time and each process's peak resident memory (VmHWM, read from /proc every half second while it runs). Writes the
// figures under "transformer" in bench/results/latest.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveResults } from './results';

const LEGIBLE = join(__dirname, '..', 'bin', 'legible.js');
const PIPELINE = join(__dirname, '..', 'pipelines', 'transformer.yaml');
/** A port of its own, so that it never shares a server with another run. */
const ADDRESS = 'localhost:7497';

/** The process's peak resident memory in MiB and its command line, or undefined once it has gone. */
function peakOf(pid: number): { mib: number; command: string } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { mib: kib / 1024, command: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() };
  } catch {
    return undefined;
  }
}

/** Every descendant of `root` (children first found through /proc/PID/stat's parent field). */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone between the listing and the read.
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent !== pid) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'legible-bench-transformer-'));
  const env = { ...process.env, LEGIBLE_HOME: home, TEMPORAL_ADDRESS: ADDRESS };
  const started = performance.now();
  const child = spawn(process.execPath, [LEGIBLE, 'run', PIPELINE], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  const peaks = new Map<number, { mib: number; command: string }>();
  const sample = () => {
    for (const pid of [child.pid!, ...descendants(child.pid!)]) {
      const p = peakOf(pid);
      // Only Legible's own processes: not the Temporal dev server the command starts, nor tsx's esbuild service.
      if (p && /legible\.js|worker\.ts/.test(p.command) && p.mib >= (peaks.get(pid)?.mib ?? 0)) peaks.set(pid, p);
    }
  };
  const timer = setInterval(sample, 500);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  const wallSeconds = (performance.now() - started) / 1000;
  spawn(process.execPath, [LEGIBLE, 'server', 'stop', '--force'], { env, stdio: 'ignore' });
  if (code !== 0) throw new Error(`legible run exited ${code}:\n${output.slice(-3000)}`);
  const processes = [...peaks.values()].map((p) => ({ peakMiB: Math.round(p.mib), role: p.command.includes('worker.ts') ? 'worker process' : 'the command (workflows and a worker)' }));
  const workflow = /finished in (\d+) s/.exec(output)?.[1];
  console.log(`transformer example (pipelines/transformer.yaml), empty store, own dev server: legible run ${wallSeconds.toFixed(0)} s in all (workflow ${workflow ?? '?'} s)`);
  for (const p of processes) console.log(`  peak memory ${String(p.peakMiB).padStart(5)} MiB  ${p.role}`);
  saveResults({ transformer: { wallSeconds, workflowSeconds: Number(workflow), processes } });
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
