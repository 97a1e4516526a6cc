// The artifact store: where steps keep what is too large for a workflow payload (weights, activations, corpora,
// labels), content-addressed, over an object store that is either a local directory (store/directory.ts) or an
// S3-compatible bucket shared by several machines (store/s3.ts, with a local cache). An artifact's name is the sha256
// of its bytes, so writing the same thing twice costs nothing and a reference never goes stale. Step results are
// memoised by the hash of their inputs, so a retried or replayed step reuses finished work, and a step that several
// workers reach at once (the sweep points' shared base model) is computed once. store/open.ts chooses the store.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';
import { writeAtomically } from './directory';

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

/** The computation of a step, claimed by one worker; `release` lets others claim it again. */
export interface Claim {
  release(): Promise<void>;
}

/**
 * Where a store keeps its objects, by key ("artifacts/ab/abcd…", "steps/…json"). Every write is whole or not at all.
 * Keys are relative paths; a key and "key/…" never both exist.
 */
export interface ObjectStore {
  /** Where the objects are, for messages: a directory, or "s3://bucket/prefix at endpoint". */
  readonly location: string;
  /** The object's bytes, or undefined when there is none. */
  read(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  write(key: string, bytes: Uint8Array): Promise<void>;
  /** Writes a small object only if there is none under `key`; false when one was there. */
  create(key: string, bytes: Uint8Array): Promise<boolean>;
  remove(key: string): Promise<void>;
  /**
   * Claims the computation that `key` (a lock object) guards, or resolves undefined while another worker holds it. A
   * holder that died (killed mid-step) loses its claim and the next caller takes it over.
   */
  claim(key: string): Promise<Claim | undefined>;
  /** Checks at start that the store can be read and written; throws InvalidInputError naming what is wrong. */
  check(): Promise<void>;
}

const MAGIC = 'LGB1';

export class ArtifactStore {
  private identity: Promise<string> | undefined;

  /**
   * @param objects where artifacts and step results live
   * @param cache a local directory that keeps a copy of every artifact this machine wrote or read (content-addressed,
   *   so a large artifact crosses the network once per machine); none where `objects` is a local directory itself.
   *   It only ever holds artifacts that `objects` has.
   */
  constructor(
    readonly objects: ObjectStore,
    readonly cache?: string,
  ) {}

  /** Where the store is, for messages. */
  get location(): string {
    return this.objects.location;
  }

  /**
   * This store's identity: 16 random hex digits made when it is first asked for and kept in the object `store-id`.
   * Runs and workers of one store share task queues named after it, so that the workers of another store on the same
   * Temporal server never take this store's work (and every machine that uses this store takes part).
   */
  id(): Promise<string> {
    this.identity ??= (async () => {
      // Of two processes creating it at once, one creates it and both read the winner's.
      await this.objects.create('store-id', Buffer.from(`${randomBytes(8).toString('hex')}\n`));
      const id = (await this.objects.read('store-id'))?.toString('utf8').trim() ?? '';
      if (!/^[0-9a-f]{16}$/.test(id)) throw new InvalidInputError(`store-id in ${this.location} should hold 16 hex digits (this store's identity), not "${id.slice(0, 40)}"`);
      return id;
    })();
    this.identity.catch(() => (this.identity = undefined));
    return this.identity;
  }

  private keyOf(sha256: string): string {
    return `artifacts/${sha256.slice(0, 2)}/${sha256}`;
  }

  private cached(sha256: string): string | undefined {
    return this.cache && join(this.cache, this.keyOf(sha256));
  }

  async putBytes(kind: string, bytes: Uint8Array): Promise<ArtifactRef> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ref = { kind, sha256, bytes: bytes.byteLength };
    const copy = this.cached(sha256);
    if (copy && existsSync(copy)) return ref; // the cache holds only what the store has
    const key = this.keyOf(sha256);
    if (!(await this.objects.exists(key))) await this.objects.write(key, bytes);
    if (copy) writeAtomically(copy, bytes);
    return ref;
  }

  /** The artifact's bytes, checked against its hash; InvalidInputError where it is missing or corrupt. */
  async getBytes(ref: ArtifactRef): Promise<Buffer> {
    const what = `artifact ${ref.kind} ${ref.sha256.slice(0, 12)}`;
    const copy = this.cached(ref.sha256);
    if (copy && existsSync(copy)) {
      const bytes = readFileSync(copy);
      if (sha256Of(bytes) === ref.sha256) return bytes;
      rmSync(copy, { force: true }); // a damaged copy: fetch it again
    }
    const bytes = await this.objects.read(this.keyOf(ref.sha256));
    if (!bytes) throw new InvalidInputError(`${what} is missing from the store at ${this.location}`);
    const sha256 = sha256Of(bytes);
    if (sha256 !== ref.sha256) throw new InvalidInputError(`${what} is corrupt in ${this.location} (its content hashes to ${sha256.slice(0, 12)})`);
    if (copy) writeAtomically(copy, bytes);
    return bytes;
  }

  putJson(kind: string, value: unknown): Promise<ArtifactRef> {
    return this.putBytes(kind, Buffer.from(JSON.stringify(value)));
  }

  async getJson<T>(ref: ArtifactRef): Promise<T> {
    return JSON.parse((await this.getBytes(ref)).toString('utf8')) as T;
  }

  putBundle(kind: string, bundle: Bundle): Promise<ArtifactRef> {
    return this.putBytes(kind, encodeBundle(bundle));
  }

  async getBundle<M>(ref: ArtifactRef): Promise<Bundle<M>> {
    return decodeBundle<M>(await this.getBytes(ref), `${ref.kind} ${ref.sha256.slice(0, 12)}`);
  }

  /** The key of the record `step` keeps for inputs `key` (its memoised result; `.lock` beside it while computed). */
  recordKey(step: string, key: unknown): string {
    const id = createHash('sha256').update(JSON.stringify({ step, key })).digest('hex');
    return `steps/${step}-${id.slice(0, 32)}.json`;
  }

  /** A small JSON record of a step (a result, the latest checkpoint's reference), or undefined. */
  async readRecord<T>(step: string, key: unknown): Promise<T | undefined> {
    const bytes = await this.objects.read(this.recordKey(step, key));
    return bytes && (JSON.parse(bytes.toString('utf8')) as T);
  }

  writeRecord(step: string, key: unknown, value: unknown): Promise<void> {
    return this.objects.write(this.recordKey(step, key), Buffer.from(JSON.stringify(value)));
  }

  removeRecord(step: string, key: unknown): Promise<void> {
    return this.objects.remove(this.recordKey(step, key));
  }

  /**
   * Runs `compute` unless a result for exactly these inputs is already stored, in which case that result is returned.
   * `key` must capture every input that changes the result. While another worker of this store (on this machine or
   * another) computes the same result, this waits for it instead of computing it twice, calling `whileWaiting` every
   * half second; if that computation stops without a result, this one takes over.
   */
  async memoise<R>(step: string, key: unknown, compute: () => Promise<R>, whileWaiting?: () => void): Promise<{ result: R; reused: boolean }> {
    const stored = async () => {
      const result = await this.readRecord<R>(step, key);
      return result === undefined ? undefined : { result, reused: true };
    };
    for (;;) {
      const found = await stored();
      if (found) return found;
      const claim = await this.objects.claim(`${this.recordKey(step, key)}.lock`);
      if (claim) {
        try {
          const again = await stored(); // finished between the first look and the claim
          if (again) return again;
          const result = await compute();
          await this.writeRecord(step, key, result);
          return { result, reused: false };
        } finally {
          await claim.release();
        }
      }
      whileWaiting?.();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
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
