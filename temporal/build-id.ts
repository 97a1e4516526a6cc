// The build id of this checkout's workflow and activity code: a short sha256 over the source of every module the
// workflows and the activities import (followed through relative imports) and the version of Temporal's workflow SDK.
// Task queues carry it (see workers.ts), so a run is only ever taken up by
// workers of the code that started it: a worker of other code never replays (and breaks) a running workflow, and an
// old run waits, visibly, for a worker of its own build. This is Temporal's worker-versioning idea ("pinned"
// workflows, https://docs.temporal.io/worker-versioning) done with queue names, which every server supports.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** The project's root directory (where package.json is). */
const ROOT = resolve(__dirname, '..');

/** The modules a worker's behaviour comes from: the workflows (what a replay must reproduce) and the activities. */
export const CODE_ENTRIES = ['workflows/index.ts', 'activities/index.ts'];

/** Relative imports of a TypeScript module: `from './x'`, `import('./x')`, `require('./x')`. */
const IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)'(\.{1,2}\/[^']+)'/g;

function resolveModule(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, join(base, 'index.ts')]) if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  throw new Error(`build id: cannot resolve ${spec} imported by ${relative(ROOT, from)}`);
}

/** Every module reachable from `entries` (paths relative to `root`) through relative imports, sorted. */
export function codeClosure(entries: string[], root = ROOT): string[] {
  const seen = new Set<string>();
  const stack = entries.map((e) => resolve(root, e));
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) stack.push(resolveModule(file, m[1]!));
  }
  return [...seen].map((f) => relative(root, f)).sort();
}

/**
 * A 12-hex-digit build id of the code reachable from `entries` (default: the workflows and the activities): the same
 * for every checkout of the same code, on any machine and at any path; different when any of those modules, or the
 * workflow SDK's version, differs. Throws if an import cannot be resolved.
 */
export function buildIdOf(entries: string[] = CODE_ENTRIES, root = ROOT): string {
  const hash = createHash('sha256');
  for (const file of codeClosure(entries, root)) hash.update(`${file}\0`).update(readFileSync(join(root, file))).update('\0');
  const sdk = JSON.parse(readFileSync(require.resolve('@temporalio/workflow/package.json'), 'utf8')) as { version: string };
  hash.update(`@temporalio/workflow@${sdk.version}`);
  return hash.digest('hex').slice(0, 12);
}

let cached: string | undefined;

/** This checkout's build id (computed once per process). */
export function buildId(): string {
  return (cached ??= buildIdOf());
}
