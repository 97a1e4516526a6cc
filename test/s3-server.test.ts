// The S3 server of the S3 store's tests (store/s3-server.ts): versitygw starts in a temporary directory with a
// bucket, stores and returns an object through @aws-sdk/client-s3, refuses a conditional put (If-None-Match: *) on a
// key that exists with HTTP 412, and once stopped no longer listens.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Socket } from 'node:net';
import { startS3Server } from '../store/s3-server';

const home = mkdtempSync(join(tmpdir(), 'legible-s3-'));
after(() => rmSync(home, { recursive: true, force: true }));

describe('startS3Server', () => {
  it('serves a bucket, refuses a conditional put on an existing key with 412, and stops', async () => {
    const server = await startS3Server({ dir: join(home, 'data'), buckets: ['artifacts'] });
    const client = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      maxAttempts: 1,
    });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'runs/a/model.bin', Body: 'weights', IfNoneMatch: '*' }));
      const got = await client.send(new GetObjectCommand({ Bucket: 'artifacts', Key: 'runs/a/model.bin' }));
      assert.equal(await got.Body!.transformToString(), 'weights');

      const refused = await client.send(new PutObjectCommand({ Bucket: 'artifacts', Key: 'runs/a/model.bin', Body: 'other', IfNoneMatch: '*' })).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(refused instanceof S3ServiceException, `a conditional put on an existing key succeeded or failed oddly: ${String(refused)}`);
      assert.equal(refused.$metadata.httpStatusCode, 412, `${refused.name}: ${refused.message}`);
      const kept = await client.send(new GetObjectCommand({ Bucket: 'artifacts', Key: 'runs/a/model.bin' }));
      assert.equal(await kept.Body!.transformToString(), 'weights');
    } finally {
      client.destroy();
      await server.stop();
    }
    const { hostname, port } = new URL(server.endpoint);
    assert.equal(await portOpen(hostname, Number(port)), false, `${server.endpoint} still answers after stop()`);
    assert.throws(() => process.kill(server.pid, 0), { code: 'ESRCH' }, `versitygw (pid ${server.pid}) still runs after stop()`);
  });
});

/** Whether something accepts TCP connections at host:port. */
function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = new Socket();
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolveOpen(true)));
    socket.once('error', () => (socket.destroy(), resolveOpen(false)));
    socket.once('timeout', () => (socket.destroy(), resolveOpen(false)));
    socket.connect(port, host);
  });
}
