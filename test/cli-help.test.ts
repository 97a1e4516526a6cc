// Every command answers --help and -h with its own usage and exit 0, without touching a server or a file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const COMMANDS = ['run', 'resume', 'runs', 'status', 'report', 'validate', 'explain', 'score', 'schema', 'server', 'setup'];
const legible = (...args: string[]) => promisify(execFile)(process.execPath, [join(__dirname, '..', 'bin', 'legible.js'), ...args], { env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' } });

describe('legible COMMAND --help', () => {
  it('every command prints its own usage and exits 0, for --help and -h', async () => {
    await Promise.all(
      COMMANDS.flatMap((command) =>
        ['--help', '-h'].map(async (flag) => {
          const { stdout } = await legible(command, flag);
          assert.match(stdout, new RegExp(`^Usage: legible ${command}\\b`), `${command} ${flag}`);
        }),
      ),
    );
  });

  it('legible help lists every command', async () => {
    const { stdout } = await legible('help');
    for (const command of COMMANDS) assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
  });

  it('an unknown option names the command, shows its usage and exits 2', async () => {
    for (const command of ['runs', 'report', 'validate', 'status']) {
      const err = await legible(command, '--bogus').then(() => undefined, (e: { code: number; stderr: string }) => e);
      assert.equal(err?.code, 2, command);
      assert.match(err!.stderr, new RegExp(`^legible ${command}: Unknown option '--bogus'\\n\\nUsage: legible ${command}\\b`), command);
    }
  });
});
