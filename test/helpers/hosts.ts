// Simulated machines for tests: Linux network namespaces ("hosts") on a bridge in the root namespace, so worker
// processes can run "on other hosts" that share only the servers the test runs in the root namespace. Owns the
// lgb-* namespaces and links it creates (names carry the creating pid, in base 36, so leftovers of a crashed run are
// removed by the next one) and the processes it spawns in them. Needs root and iproute2; hostsUnavailable() says why
// not. What was checked on Linux 6.x with iproute2 6.1:
//  - A host reaches the root namespace at `gateway` (the bridge's address): a server bound to 0.0.0.0 or to the
//    gateway answers there (a server on 127.0.0.1 does not: 127.0.0.1 in a host is the host's own loopback, which is
//    up). Hosts reach each other at their addresses, and the root namespace's other addresses too (they are local to
//    it), but nothing beyond the machine (IP forwarding is left as it is). The gateway exists from makeHosts() to
//    cleanup(): start servers bound to it after the one and stop them before the other.
//  - `ip netns exec` execs the command in place (no fork), so the ChildProcess's pid is the command's own: kill()
//    reaches it, and Node's 'ipc' stdio works through it (process.send in the child, 'message' in the parent).
//    The environment and cwd pass through unchanged.
//  - A Temporal dev server for the hosts is started with `--ip 0.0.0.0` (startDevServer({ host: '0.0.0.0' }) in
//    temporal/server.ts) and answers them at `${gateway}:${port}`. One started with `--ip <gateway>` answers
//    connections there but fails to start workflows: its services dial each other on 127.0.0.1.
import { spawn as spawnChild, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { processAlive } from '../../store/directory';

/** The name prefix of everything this helper creates; anything else is left alone. */
const PREFIX = 'lgb-';
/** Names this helper owns: `lgb-<creating pid, base 36>-...`. */
const OWNED = /^lgb-([0-9a-z]+)-/;
const MAX_HOSTS = 100;

export interface Host {
  /** The name given to makeHosts. */
  name: string;
  /** The network namespace (for `ip netns exec`, `ip -n`). */
  netns: string;
  /** The host's address on the bridge, where the root namespace and the other hosts reach it. */
  address: string;
}

export interface Hosts {
  /** The bridge's address: where a host reaches servers in the root namespace (bound to it or to 0.0.0.0). */
  gateway: string;
  hosts: Host[];
  /**
   * Spawns `command` on host `hostName` through `ip netns exec` (which execs in place: the pid is the command's, and
   * stdio, 'ipc' included, env and cwd work as with a plain spawn).
   */
  spawn(hostName: string, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Kills what runs in the hosts and deletes their namespaces, veths and the bridge. Safe to call twice. */
  cleanup(): void;
}

let unavailable: { reason: string | undefined } | undefined;
let instances = 0;

/**
 * Why this process cannot make hosts (not Linux, not root, no `ip`, or creating a namespace fails, as in an unprivileged
 * container), or undefined when it can. Probes by creating and deleting a throwaway namespace; the answer is cached.
 */
export function hostsUnavailable(): string | undefined {
  unavailable ??= { reason: probe() };
  return unavailable.reason;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespaces need root (this process runs as uid ${process.getuid?.()})`;
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (version.error) return `the \`ip\` command (iproute2) is not available: ${version.error.message}`;
  removeStale();
  const ns = `${stem(instances++)}-probe`;
  const added = ip(['netns', 'add', ns]);
  if (added.status !== 0) {
    ip(['netns', 'delete', ns]);
    return `\`ip netns add\` failed: ${added.stderr.trim() || `exit code ${added.status}`}`;
  }
  const up = ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  const deleted = ip(['netns', 'delete', ns]);
  if (up.status !== 0) return `a new network namespace cannot be configured: ${up.stderr.trim()}`;
  if (deleted.status !== 0) return `\`ip netns delete\` failed: ${deleted.stderr.trim()}`;
  return undefined;
}

/**
 * Makes one simulated host per name: a network namespace `lgb-<pid>-<k>-<name>` with `lo` up and an `eth0` at
 * 10.201.N.(i+2)/24, its veth peer on a bridge in the root namespace at 10.201.N.1 (`gateway`, the hosts' default
 * route), N picked to avoid subnets in use. Removes leftovers of earlier runs whose process has died first. Throws
 * with hostsUnavailable()'s reason where hosts cannot be made. Call cleanup() when done (also run at process exit).
 */
export function makeHosts(names: string[]): Hosts {
  const reason = hostsUnavailable();
  if (reason) throw new Error(`cannot simulate hosts: ${reason}`);
  if (names.length === 0 || names.length > MAX_HOSTS) throw new Error(`makeHosts takes 1 to ${MAX_HOSTS} host names (got ${names.length})`);
  if (new Set(names).size !== names.length) throw new Error(`makeHosts: host names must be distinct (got ${names.join(', ')})`);
  for (const n of names) if (!/^[A-Za-z0-9_.-]{1,40}$/.test(n)) throw new Error(`makeHosts: host name ${JSON.stringify(n)} must be 1 to 40 of A-Z a-z 0-9 _ . -`);
  removeStale();

  const s = stem(instances++);
  const bridge = `${s}br`;
  const veth = (i: number) => `${s}v${i.toString(36)}`;
  const subnet = freeSubnet();
  const gateway = `10.201.${subnet}.1`;
  const hosts: Host[] = names.map((name, i) => ({ name, netns: `${s}-${name}`, address: `10.201.${subnet}.${i + 2}` }));
  const children = new Set<ChildProcess>();
  let cleaned = false;

  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener('exit', cleanup);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const h of hosts) removeNamespace(h.netns);
    ip(['link', 'delete', bridge]);
    // A veth whose namespace could not be made is not deleted with it.
    hosts.forEach((_h, i) => ip(['link', 'delete', veth(i)]));
  };
  process.once('exit', cleanup);

  try {
    must(['link', 'add', bridge, 'type', 'bridge']);
    must(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    must(['link', 'set', bridge, 'up']);
    hosts.forEach((h, i) => {
      must(['netns', 'add', h.netns]);
      must(['-n', h.netns, 'link', 'set', 'lo', 'up']);
      must(['link', 'add', veth(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
      must(['link', 'set', veth(i), 'master', bridge]);
      must(['link', 'set', veth(i), 'up']);
      must(['-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      must(['-n', h.netns, 'link', 'set', 'eth0', 'up']);
      must(['-n', h.netns, 'route', 'add', 'default', 'via', gateway]);
    });
  } catch (err) {
    cleanup();
    throw err;
  }

  return {
    gateway,
    hosts,
    spawn(hostName, command, args = [], options = {}) {
      if (cleaned) throw new Error(`hosts.spawn(${hostName}): the hosts have been cleaned up`);
      const host = hosts.find((h) => h.name === hostName);
      if (!host) throw new Error(`hosts.spawn: no host named ${JSON.stringify(hostName)} (hosts: ${names.join(', ')})`);
      const child = spawnChild('ip', ['netns', 'exec', host.netns, command, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    cleanup,
  };
}

/**
 * `lgb-<pid base 36>-<k base 36>`: at most 4 + 5 + 1 + 2 = 12 chars (pids are below 2^22), which leaves room for
 * `v<host index base 36>` in the 15 chars an interface name may have.
 */
function stem(k: number): string {
  const s = `${PREFIX}${process.pid.toString(36)}-${(k % 1296).toString(36)}`;
  if (s.length > 12) throw new Error(`makeHosts: name stem ${s} is too long for interface names`);
  return s;
}

function ip(args: string[]) {
  return spawnSync('ip', args, { encoding: 'utf8' });
}

function must(args: string[]): void {
  const r = ip(args);
  if (r.status !== 0) throw new Error(`\`ip ${args.join(' ')}\` failed: ${r.stderr.trim() || r.error?.message || `exit code ${r.status}`}`);
}

/** Kills every process in the namespace (`ip netns pids`), then deletes it (which deletes its veth end and the peer). */
function removeNamespace(ns: string): void {
  const pids = ip(['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  ip(['netns', 'delete', ns]);
}

/** A third octet for 10.201.N.0/24 that no address in the root namespace uses, starting from one the pid picks. */
function freeSubnet(): number {
  const used = new Set(
    [...ip(['-o', '-4', 'addr', 'show']).stdout.matchAll(/inet 10\.201\.(\d+)\./g)].map((m) => Number(m[1])),
  );
  for (let i = 0; i < 254; i++) {
    const n = 1 + ((process.pid + instances * 37 + i) % 254);
    if (!used.has(n)) return n;
  }
  throw new Error('makeHosts: every 10.201.N.0/24 subnet is in use');
}

/** Deletes lgb-* namespaces and links whose creating process (the pid in their name) has died. */
function removeStale(): void {
  const dead = (name: string) => {
    const m = OWNED.exec(name);
    return !!m && !processAlive(parseInt(m[1], 36));
  };
  for (const line of ip(['netns', 'list']).stdout.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns && dead(ns)) removeNamespace(ns);
  }
  // `ip -o link` lines look like `12: lgb-1ab-0-v0@if3: <...>`.
  for (const m of ip(['-o', 'link', 'show']).stdout.matchAll(/^\d+: ([^:@\s]+)/gm)) if (dead(m[1])) ip(['link', 'delete', m[1]]);
}
