// The artifact store: a content-addressed local directory where steps keep what is too large for a workflow
// payload (weights, activations, corpora, labels). Writes are atomic (temp file, then rename), and an artifact's
// name is the sha256 of its bytes, so writing the same thing twice costs nothing and a reference never goes stale.
// Step results are memoised by the hash of their inputs, so a retried or replayed step reuses finished work.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
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

  /**
   * Runs `compute` unless a result for exactly these inputs is already stored, in which case that result is returned.
   * `key` must capture every input that changes the result.
   */
  async memoise<R>(step: string, key: unknown, compute: () => Promise<R>): Promise<{ result: R; reused: boolean }> {
    const id = createHash('sha256').update(JSON.stringify({ step, key })).digest('hex');
    const path = join(this.root, 'steps', `${step}-${id.slice(0, 32)}.json`);
    if (existsSync(path)) return { result: JSON.parse(readFileSync(path, 'utf8')) as R, reused: true };
    const result = await compute();
    writeAtomically(path, Buffer.from(JSON.stringify(result)));
    return { result, reused: false };
  }
}

function writeAtomically(path: string, bytes: Uint8Array): void {
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
