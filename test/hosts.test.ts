// The simulated hosts of helpers/hosts.ts: distinct addresses, a server in the root namespace reachable from each host
// at the gateway, Node IPC through `ip netns exec`, and nothing left behind by cleanup. Skipped where network
// namespaces cannot be made (not root, no iproute2, an unprivileged container).
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostsUnavailable, makeHosts } from './helpers/hosts';

const ROOT = join(__dirname, '..');

/** Resolves with the child's stdout once it exits; rejects on a non-zero exit. */
function output(child: ChildProcess): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.once('exit', (code, signal) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code ?? signal}: ${err.trim()}`)))),
  );
}

test('simulated hosts: addresses, reaching the root namespace, IPC, cleanup', { skip: hostsUnavailable(), timeout: 10_000 }, async () => {
  const hosts = makeHosts(['alpha', 'beta']);
  let server: Server | undefined;
  try {
    const [alpha, beta] = hosts.hosts;
    assert.notEqual(alpha.address, beta.address);
    assert.notEqual(alpha.netns, beta.netns);
    assert.ok(![alpha.address, beta.address].includes(hosts.gateway));

    // Bound to the gateway: a server only on 127.0.0.1 would not be reachable from the hosts.
    server = createServer((req, res) => res.end(`seen from ${req.socket.remoteAddress}`));
    await new Promise<void>((r) => server!.listen(0, hosts.gateway, r));
    const { port } = server.address() as AddressInfo;
    const fetchFrom = (host: string, url: string) =>
      output(hosts.spawn(host, process.execPath, ['-e', `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then(console.log, (e) => { console.error(e.cause?.code ?? e.name); process.exit(1); })`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.deepEqual(
      await Promise.all(hosts.hosts.map((h) => fetchFrom(h.name, `http://${hosts.gateway}:${port}/`))),
      [`seen from ${alpha.address}`, `seen from ${beta.address}`],
    );
    // 127.0.0.1 in a host is its own loopback, not the root namespace's.
    await assert.rejects(fetchFrom('alpha', `http://127.0.0.1:${port}/`), /ECONNREFUSED/);

    // IPC through `ip netns exec`, which execs in place: the child's pid is the node process's.
    const child = hosts.spawn('beta', process.execPath, ['--import', 'tsx', '-e', `process.send({ pid: process.pid, net: require('node:fs').readlinkSync('/proc/self/ns/net') })`], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const message = await new Promise<{ pid: number; net: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { pid: number; net: string }));
      child.once('exit', (code) => reject(new Error(`the namespaced child exited (code ${code}) before sending a message`)));
    });
    assert.equal(message.pid, child.pid);
    assert.notEqual(message.net, readlinkSync('/proc/self/ns/net'));
    const exited = new Promise((r) => child.once('exit', (_code, signal) => r(signal)));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
  } finally {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    hosts.cleanup();
    hosts.cleanup();
  }

  const mine = `lgb-${process.pid.toString(36)}-`;
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.ok(!namespaces.includes(mine), `namespaces left behind:\n${namespaces}`);
  assert.ok(!links.includes(mine), `links left behind:\n${links}`);
});
