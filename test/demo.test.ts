// `npm run demo` (scripts/demo.mjs, run here without its build step: the suite has built dist/),
// read as a newcomer reads it: the race without authd and the same callers with it, in plain text.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { onTerminal } from './support/terminal.js';

const repoRoot = new URL('..', import.meta.url).pathname;

function withoutAuthdVars(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AUTHD_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

/** The part of the output between the heading that starts with `from` and the next heading. */
function section(output: string, from: string): string {
  const start = output.indexOf(`▸ ${from}`);
  expect(start, `no section "${from}" in:\n${output}`).toBeGreaterThanOrEqual(0);
  const end = output.indexOf('▸ ', start + 2);
  return output.slice(start, end === -1 ? undefined : end);
}

describe('npm run demo', () => {
  it('piped: without authd twenty programs lose the session; with authd one refresh serves all twenty; no escape codes', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['scripts/demo.mjs'], { cwd: repoRoot, env: withoutAuthdVars(), encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).not.toContain('\x1b');

    const without = section(stdout, 'Without authd');
    expect(without).toMatch(/1 of 20 got new tokens; 19 were refused \(invalid_grant\)/);
    expect(without).toContain('took it as stolen and ended the session');
    expect(without).toContain('Session lost: even the new tokens are refused now. The user has to log in again.');

    const withAuthd = section(stdout, 'With authd');
    expect(withAuthd).toMatch(/20 of 20 got a token, in \d+ ms: the same one for all, from 1 refresh\./);
    expect(withAuthd).toContain('Session kept: the provider still accepts the session.');

    const table = section(stdout, 'Side by side');
    expect(table).toMatch(/programs given a token +1 of 20, revoked since +20 of 20\n/);
    expect(table).toMatch(/refreshes sent to the provider +20 +1\n/);
    expect(table).toMatch(/a refresh token used twice +yes +no\n/);
    expect(table).toMatch(/the session afterwards +lost: log in again +kept\n/);

    // Plain words, not the provider's vocabulary.
    expect(stdout).not.toMatch(/active: (true|false)/);
  });

  it('on a terminal, colours on: no oidc-provider warning, nor the colour codes it wraps them in', async () => {
    // oidc-provider colours its warnings whenever stderr is a terminal (NO_COLOR or not); the demo colours
    // its own words unless NO_COLOR is set. Without NO_COLOR, both.
    const demo = onTerminal('node scripts/demo.mjs', { cwd: repoRoot, env: withoutAuthdVars() });
    expect(await demo.exited).toBe(0);
    expect(demo.output).toContain('\x1b[32;1mSession kept:\x1b[0m the provider still accepts the session.');
    expect(demo.output).not.toMatch(/oidc-provider|WARNING|NOTICE/);
    // No line left that is colour codes and nothing else, where a warning's text was taken out of its wrapping.
    const bare = demo.output.split(/\r?\n/).filter((line) => line.includes('\x1b') && line.replace(/\x1b\[[\d;]*m/g, '').trim() === '');
    expect(bare).toEqual([]);
  });
});
