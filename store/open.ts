// Which artifact store a process uses: the directory LEGIBLE_HOME by default; with LEGIBLE_STORE=s3://bucket/prefix,
// that S3-compatible bucket (endpoint and credentials from the standard AWS_* variables, never from a pipeline file),
// with this machine's copy of what it reads and writes cached under LEGIBLE_HOME/s3-cache.
import { join } from 'node:path';
import { ArtifactStore } from './artifacts';
import { DirectoryObjects } from './directory';
import { parseS3Url, S3Objects, s3ClientConfig } from './s3';

const opened = new Map<string, ArtifactStore>();

/**
 * The artifact store for local directory `home` (LEGIBLE_HOME) under `env`: one instance per setting per process.
 * Throws InvalidInputError for a malformed LEGIBLE_STORE or AWS setting; whether the store answers is `check()`'s
 * (see openCheckedStore).
 */
export function openStore(home: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  const url = env.LEGIBLE_STORE || undefined;
  const id = `${home}\0${url ?? ''}\0${env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? ''}\0${env.AWS_ACCESS_KEY_ID ?? ''}`;
  let store = opened.get(id);
  if (!store) {
    if (!url) store = directoryStore(home);
    else {
      const at = parseS3Url(url);
      store = new ArtifactStore(new S3Objects(at, s3ClientConfig(env)), join(home, 's3-cache', at.bucket, ...(at.prefix ? at.prefix.split('/') : [])));
    }
    opened.set(id, store);
  }
  return store;
}

/** The artifact store kept in directory `root` (what openStore gives without LEGIBLE_STORE). */
export function directoryStore(root: string): ArtifactStore {
  return new ArtifactStore(new DirectoryObjects(root));
}

const checked = new WeakSet<ArtifactStore>();

/** openStore, then its start-up check (once per store per process): bad store settings fail here, before any work starts. */
export async function openCheckedStore(home: string, env: NodeJS.ProcessEnv = process.env): Promise<ArtifactStore> {
  const store = openStore(home, env);
  if (!checked.has(store)) {
    await store.objects.check();
    checked.add(store);
  }
  return store;
}
