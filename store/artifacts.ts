// The artifact store: a content-addressed local directory where steps keep what is too large for a workflow
// payload (weights, activations, corpora, labels). Writes are atomic (temp file, then rename), and an artifact's
// name is the sha256 of its bytes, so writing the same thing twice costs nothing and a reference never goes stale.
// Step results are memoised by the hash of their inputs, so a retried or replayed step reuses finished work, and
// a step that several workers reach at once (the sweep points' shared base model) is computed once.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';

/** A reference to an artifact: small, JSON, safe to pass through Temporal. */
export interface ArtifactRef {
  kind: string;
  sha256: string;
  bytes: number;
}

export type NumericArray = Float32Array | Int32Array;

/** Named typed arrays plus JSON metadata: the one binary format for tensors, corpora and records. */
export interface Bundle<M = unknown> {
  meta: M;
  arrays: Record<string, NumericArray>;
}

const MAGIC = 'LGB1';

export class ArtifactStore {
  constructor(readonly root: string) {}

  /**
   * This store's identity: 16 random hex digits made when it is first asked for and kept in `<root>/store-id`. Runs
   * and workers of one store share task queues named after it, so that the workers of another store on the same
   * Temporal server never take this store's work (and every machine that mounts this store takes part).
   */
  id(): string {
    const path = join(this.root, 'store-id');
    if (!existsSync(path)) {
      mkdirSync(this.root, { recursive: true });
      // Written whole to a file of its own, then linked into place: of two processes creating it at once, one link
      // wins and the other reads the winner's identity, never a file still being written.
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, `${randomBytes(8).toString('hex')}\n`);
      try {
        linkSync(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    const id = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{16}$/.test(id)) throw new InvalidInputError(`${path} should hold 16 hex digits (this store's identity), not "${id.slice(0, 40)}"`);
    return id;
  }

  private pathOf(sha256: string): string {
    return join(this.root, 'artifacts', sha256.slice(0, 2), sha256);
  }

  putBytes(kind: string, bytes: Uint8Array): ArtifactRef {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256);
    if (!existsSync(path)) writeAtomically(path, bytes);
    return { kind, sha256, bytes: bytes.byteLength };
  }

  getBytes(ref: ArtifactRef): Buffer {
    const path = this.pathOf(ref.sha256);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new InvalidInputError(`artifact ${ref.kind} ${ref.sha256.slice(0, 12)} is missing from the store at ${this.root}`);
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== ref.sha256) throw new InvalidInputError(`artifact ${ref.kind} ${ref.sha256.slice(0, 12)} is corrupt (its content hashes to ${sha256.slice(0, 12)})`);
    return bytes;
  }

  putJson(kind: string, value: unknown): ArtifactRef {
    return this.putBytes(kind, Buffer.from(JSON.stringify(value)));
  }

  getJson<T>(ref: ArtifactRef): T {
    return JSON.parse(this.getBytes(ref).toString('utf8')) as T;
  }

  putBundle(kind: string, bundle: Bundle): ArtifactRef {
    return this.putBytes(kind, encodeBundle(bundle));
  }

  getBundle<M>(ref: ArtifactRef): Bundle<M> {
    return decodeBundle<M>(this.getBytes(ref), `${ref.kind} ${ref.sha256.slice(0, 12)}`);
  }

  /** Where the result of `step` for inputs `key` is kept (and, while it is computed, `.lock` beside it). */
  stepFile(step: string, key: unknown): string {
    const id = createHash('sha256').update(JSON.stringify({ step, key })).digest('hex');
    return join(this.root, 'steps', `${step}-${id.slice(0, 32)}.json`);
  }

  /**
   * Runs `compute` unless a result for exactly these inputs is already stored, in which case that result is returned.
   * `key` must capture every input that changes the result. While another process on this machine (or another step
   * in this one) computes the same result, this waits for it instead of computing it twice, calling `whileWaiting`
   * every half second; if that computation stops without a result, this one takes over.
   */
  async memoise<R>(step: string, key: unknown, compute: () => Promise<R>, whileWaiting?: () => void): Promise<{ result: R; reused: boolean }> {
    const path = this.stepFile(step, key);
    const stored = () => (existsSync(path) ? { result: JSON.parse(readFileSync(path, 'utf8')) as R, reused: true } : undefined);
    for (;;) {
      const found = stored();
      if (found) return found;
      const claim = claimComputation(`${path}.lock`);
      if (claim) {
        try {
          const again = stored(); // finished between the first look and the claim
          if (again) return again;
          const result = await compute();
          writeAtomically(path, Buffer.from(JSON.stringify(result)));
          return { result, reused: false };
        } finally {
          claim.release();
        }
      }
      whileWaiting?.();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Claims the computation behind a lock file (created exclusively, holding this process's id and host). A lock whose
 * process is gone (killed mid-step) is taken over; a lock held on another machine sharing the store is not waited
 * for (computing a result twice is harmless: it is the same result, written atomically).
 */
function claimComputation(lock: string): { release(): void } | undefined {
  const held = { release: () => rmSync(lock, { force: true }) };
  mkdirSync(join(lock, '..'), { recursive: true });
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname() }), { flag: 'wx' });
      return held;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(readFileSync(lock, 'utf8')) as typeof owner;
    } catch {
      continue; // released (or half written) just now: try again
    }
    if (owner.host !== hostname()) return { release: () => undefined };
    if (owner.pid !== undefined && isAlive(owner.pid)) return undefined;
    rmSync(lock, { force: true }); // its process is gone
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a file whole or not at all (to a temporary file beside it, then renamed), making its directory. */
export function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

export function encodeBundle(bundle: Bundle): Buffer {
  let offset = 0;
  const arrays = Object.entries(bundle.arrays).map(([name, a]) => {
    const entry = { name, dtype: a instanceof Float32Array ? 'float32' : 'int32', offset, length: a.length };
    offset += a.byteLength;
    return entry;
  });
  const header = Buffer.from(JSON.stringify({ meta: bundle.meta, arrays }));
  const headerLen = Buffer.alloc(4);
  headerLen.writeUInt32LE(header.length);
  // Pad the header so the array data starts on a 4-byte boundary and can be viewed without copying.
  const pad = Buffer.alloc((4 - ((MAGIC.length + 4 + header.length) % 4)) % 4, 0x20);
  const parts: Uint8Array[] = [Buffer.from(MAGIC), headerLen, header, pad];
  for (const a of Object.values(bundle.arrays)) parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  return Buffer.concat(parts);
}

export function decodeBundle<M>(bytes: Buffer, what = 'bundle'): Bundle<M> {
  if (bytes.subarray(0, 4).toString() !== MAGIC) throw new InvalidInputError(`${what} is not a Legible bundle`);
  const headerLen = bytes.readUInt32LE(4);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as {
    meta: M;
    arrays: { name: string; dtype: string; offset: number; length: number }[];
  };
  let start = 8 + headerLen;
  start += (4 - (start % 4)) % 4;
  // Copy once into an aligned buffer of our own (Node may hand out unaligned pooled buffers).
  const data = new Uint8Array(bytes.subarray(start)).buffer;
  const arrays: Record<string, NumericArray> = {};
  for (const a of header.arrays) {
    arrays[a.name] = a.dtype === 'float32' ? new Float32Array(data, a.offset, a.length) : new Int32Array(data, a.offset, a.length);
  }
  return { meta: header.meta, arrays };
}
