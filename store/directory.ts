// A local directory as the artifact store's object store (the default, LEGIBLE_HOME): atomic writes (a temporary
// file, then a rename), exclusive creation by hard link, and computations claimed by lock files that name their
// process, so a step killed mid-computation is taken over at once by the next worker on this machine.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '../data/errors';
import type { Claim, ObjectStore } from './artifacts';

export class DirectoryObjects implements ObjectStore {
  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  private pathOf(key: string): string {
    return join(this.root, key);
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return readFileSync(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return existsSync(this.pathOf(key));
  }

  async write(key: string, bytes: Uint8Array): Promise<void> {
    writeAtomically(this.pathOf(key), bytes);
  }

  async create(key: string, bytes: Uint8Array): Promise<boolean> {
    const path = this.pathOf(key);
    if (existsSync(path)) return false;
    mkdirSync(join(path, '..'), { recursive: true });
    // Written whole to a file of its own, then linked into place: of two processes creating it at once, one link
    // wins, and neither ever reads a file still being written.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, bytes);
    try {
      linkSync(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async remove(key: string): Promise<void> {
    rmSync(this.pathOf(key), { force: true });
  }

  /**
   * A lock file created exclusively, holding this process's id and host. A lock whose process is gone (killed
   * mid-step) is taken over; a lock held on another machine sharing the directory is not waited for (computing a
   * result twice is harmless: it is the same result, written atomically).
   */
  async claim(key: string): Promise<Claim | undefined> {
    const lock = this.pathOf(key);
    const held = { release: async () => rmSync(lock, { force: true }) };
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
      if (owner.host !== hostname()) return { release: async () => undefined };
      if (owner.pid !== undefined && processAlive(owner.pid)) return undefined;
      rmSync(lock, { force: true }); // its process is gone
    }
    return undefined;
  }

  async check(): Promise<void> {
    try {
      mkdirSync(this.root, { recursive: true });
      accessSync(this.root, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new InvalidInputError(`the artifact store's directory ${this.root} (LEGIBLE_HOME) cannot be used: ${(err as Error).message}`);
    }
  }
}

/** Whether process `pid` runs on this machine (one of another user's counts: EPERM). */
export function processAlive(pid: number): boolean {
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
