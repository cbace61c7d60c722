// The command line in-process: each command's parsing, output and exit code, with an injected IO and
// a stand-in daemon that records what it was asked (test/support/in-process.ts). Each command's
// success path: commands-in-process.test.ts. What the daemon does is tested elsewhere, with the
// real binary against a real provider.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { COMMANDS } from '../src/client/commands/index.js';
import { topLevelHelp } from '../src/client/main.js';
import type { Methods } from '../src/protocol/index.js';
import { PRESET_FLAGS, PRESETS } from '../src/protocol/presets.js';
import { type Answers, cli } from './support/in-process.js';

const TOKEN = { access_token: 'tok.abc', token_type: 'Bearer', expires_at: 2_000_000_000, profile: 'acme' };

describe('mistyped commands and flags', () => {
  test('a mistyped command exits 2, suggests the command it resembles, and contacts no daemon', async () => {
    const r = await cli(['logn']);
    expect(r).toMatchObject({ code: 2, stdout: '', connected: false });
    expect(r.stderr).toMatch(/^authd: unknown command "logn" \(did you mean `authd login`\?\)\n/);
  });

  test('a mistyped flag exits 2 and suggests the flag it resembles', async () => {
    const r = await cli(['get-token', '--fromat', 'json']);
    expect(r).toMatchObject({ code: 2, stdout: '', connected: false });
    expect(r.stderr).toMatch(/unknown option --fromat for authd get-token \(did you mean --format\?\)/);
  });

  test('a word nothing resembles gets no guess', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/did you mean/);
  });

  test('no error message says "authd" twice in a row', async () => {
    const bad = [['use'], ['exec'], ['daemon'], ['daemon', 'fly'], ['git'], ['secret'], ['store'], ['store', 'migrate'], ['git-credential'],
      ['logout', '--all', '-p', 'a'], ['get-token', '--min-ttl', 'x'], ['-p'], ['--bogus', 'status'], ['-p', 'acme', 'status']];
    for (const argv of bad) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(/^authd: /);
      expect(r.stderr, argv.join(' ')).not.toMatch(/authd: authd/);
      expect(r.connected, argv.join(' ')).toBe(false);
    }
  });
});

describe('global options before the command', () => {
  test('`authd -p acme get-token` asks for profile acme, as `authd get-token -p acme` does', async () => {
    for (const argv of [['-p', 'acme', 'get-token'], ['--profile', 'acme', 'get-token'], ['--profile=acme', 'get-token'], ['get-token', '-p', 'acme']]) {
      const r = await cli(argv, { getToken: () => TOKEN });
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout).toBe('tok.abc\n');
      expect(r.requests[0]).toMatchObject({ method: 'getToken', params: { profile: 'acme' } });
    }
  });

  test('-p given to a command that takes no profile is a usage error naming the command', async () => {
    const r = await cli(['-p', 'acme', 'profiles']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-p\/--profile does not apply to authd profiles/);
  });

  test('`authd --help get-token` and `authd help get-token` show that command\'s help', async () => {
    for (const argv of [['--help', 'get-token'], ['help', 'get-token'], ['get-token', '--help'], ['get-token', '-h']]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: authd get-token /);
    }
  });
});

describe('help from the command table', () => {
  test('`authd profile --help` lists every preset with each of its flags', async () => {
    const r = await cli(['profile', '--help']);
    for (const p of PRESETS) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`  ${p.name} `));
      expect(line, p.name).toBeDefined();
      for (const option of Object.keys(p.options)) expect(line, `${p.name} ${option}`).toContain(`--${PRESET_FLAGS[option as keyof typeof PRESET_FLAGS].flag}`);
    }
  });

  test('the top-level help lists every command once, with each option its help names', () => {
    const help = topLevelHelp();
    for (const c of COMMANDS) expect(help).toContain(`  ${c.synopsis}`);
    expect(help).toContain('--no-browser');
  });

  test('every command has a help that starts with its usage and mentions each of its long options', () => {
    for (const c of COMMANDS) {
      expect(c.help, c.name).toMatch(new RegExp(`^Usage: authd ${c.name}\\b`));
      for (const flag of Object.keys(c.flags)) if (flag !== 'help' && flag !== 'profile') expect(c.help, `${c.name} --${flag}`).toContain(`--${flag}`);
    }
  });

  for (const [name, file] of [['get-token', 'get-token.cjs'], ['git-credential', 'git-credential.cjs']] as const) {
    test(`\`authd ${name}\` on Node starts a client that holds ${name} alone: no other command, no provider presets (issue 13)`, () => {
      // The launchers (and the native client, handing over) start dist/${file} for it; each byte there is parsed on every call.
      const client = readFileSync(new URL(`../dist/${file}`, import.meta.url), 'utf8');
      expect(client).toContain(`Usage: authd ${name} `);
      for (const c of COMMANDS) if (c.name !== name) expect(client, c.name).not.toContain(`Usage: authd ${c.name} `);
      const presetPages = PRESETS.flatMap((p) => [...p.about, ...p.settings].flatMap((x) => (x.doc ? [x.doc] : [])));
      expect(presetPages.length).toBeGreaterThan(10);
      for (const page of presetPages) expect(client).not.toContain(page);
      expect(client.length).toBeLessThan(40_000);
    });
  }

  test('`authd get-token` on Node starts its fast path first: no other command\'s help, no presets, smaller than the full client (issue 13)', () => {
    // bin/authd starts it (through get-token-start.cjs: node-fast-path.test.ts); it loads dist/get-token.cjs only for what it does not answer itself.
    const fast = readFileSync(new URL('../dist/get-token-fast.cjs', import.meta.url), 'utf8');
    // It reads get-token's arguments with get-token's own parser (its help comes along), and nothing of the other commands.
    for (const c of COMMANDS) if (c.name !== 'get-token') expect(fast, c.name).not.toContain(`Usage: authd ${c.name} `);
    // Node's own modules, and the TOML parser (required only where a daemon asks for a secret from the
    // environment); no import(), which the vm.Script get-token-start.cjs runs it in could not load.
    expect([...fast.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !m!.startsWith('node:'))).toEqual(['smol-toml']);
    expect(fast).not.toMatch(/\bimport\(/);
    // node:net only where Node lends no pipe handle (pipe-exchange.ts): loaded when called, not at the start.
    expect(fast).not.toContain('require("node:net")');
    expect(fast).toContain('get-token.cjs');
    expect(fast.length).toBeLessThan(readFileSync(new URL('../dist/get-token.cjs', import.meta.url), 'utf8').length * 0.8);
  });
});

/** Every key of a JSON value, at any depth. */
function keysOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(keysOf);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [k, ...keysOf(x)]);
  return [];
}

describe('JSON output', () => {
  const status: Methods['status']['result'] = {
    daemon: { pid: 7, version: '1', startedAt: 1, uptimeSeconds: 2, socket: '/s', store: 'file', configPath: '/c', stateDir: '/st', storeWarning: 'w' },
    profiles: [{ profile: 'acme', flow: 'device', isDefault: true, loggedIn: true, refreshes: 1, loginPending: false, maskedToken: 'ab…cd' }],
    recent: [{ time: '2026-01-01T00:00:00Z', profile: 'acme', caller: { pid: 3, cmd: 'git' }, fingerprint: '0123' }],
  };
  const answers: Answers = {
    status: () => status,
    profiles: () => ({ configPath: '/c', defaultProfile: 'acme', profiles: [{ name: 'acme', flow: 'device', isDefault: true }] }),
    doctor: () => ({ checks: [{ name: 'store', ok: true, detail: 'file' }, { name: 'provider acme', ok: false, detail: 'down', fix: 'wait' }] }),
  };

  test('status, profiles and doctor --json use snake_case keys only', async () => {
    for (const argv of [['status', '--json'], ['profiles', '--json'], ['doctor', '--json']]) {
      const r = await cli(argv, answers);
      const keys = keysOf(JSON.parse(r.stdout));
      expect(keys.length, argv.join(' ')).toBeGreaterThan(3);
      expect(keys.filter((k) => !/^[a-z0-9_]+$/.test(k)), argv.join(' ')).toEqual([]);
    }
  });

  test('status --json says who is logged in, and doctor --json exits 1 with the failed check', async () => {
    const s = JSON.parse((await cli(['status', '--json'], answers)).stdout);
    expect(s.profiles[0]).toMatchObject({ profile: 'acme', logged_in: true, is_default: true, expires_at: null });
    expect(s.daemon).toMatchObject({ uptime_seconds: 2, config_path: '/c', store_warning: 'w' });
    const d = await cli(['doctor', '--json'], answers);
    expect(d.code).toBe(1);
    expect(JSON.parse(d.stdout)).toEqual({
      ok: false,
      checks: [{ name: 'store', status: 'ok', detail: 'file', fix: null }, { name: 'provider acme', status: 'failed', detail: 'down', fix: 'wait' },
        // In-process, from the sources: no dist/authd-native beside this client.
        { name: 'fast path', status: 'warning', detail: expect.stringMatching(/^Node only/), fix: expect.any(String) }],
    });
  });

  test('status shows the state directory, where the log is', async () => {
    const r = await cli(['status'], answers);
    expect(r.stdout).toMatch(/^state {4}\/st \(the log: authd\.log\)$/m);
    expect(JSON.parse((await cli(['status', '--json'], answers)).stdout).daemon.state_dir).toBe('/st');
  });

  test('daemon status --json with no daemon says so, exit 5', async () => {
    const r = await cli(['daemon', 'status', '--json']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout)).toMatchObject({ running: false, answering: false, pid: null });
    expect(keysOf(JSON.parse(r.stdout)).every((k) => /^[a-z0-9_]+$/.test(k))).toBe(true);
  });
});

describe('authd exec', () => {
  test('a command that does not exist exits 127, as in a shell, after asking for the token', async () => {
    const r = await cli(['exec', '--', '/nonexistent/authd-no-such-command'], { getToken: () => TOKEN });
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('authd: /nonexistent/authd-no-such-command: command not found\n');
  });

  test('a file that cannot be run exits 126', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authd-cli.'));
    const file = join(dir, 'not-executable');
    writeFileSync(file, '#!/bin/sh\nexit 0\n');
    chmodSync(file, 0o644);
    const r = await cli(['exec', '--', file], { getToken: () => TOKEN });
    // root may run anything with an x bit; this file has none, so even root cannot.
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/permission denied/);
  });
});

describe('arguments are checked before the daemon is contacted', () => {
  test('every usage error leaves the daemon alone', async () => {
    for (const argv of [['get-token', '--format', 'xml'], ['get-token', 'extra'], ['login', 'x'], ['exec', '--env', '1X', '--', 'true'],
      ['use', 'a', 'b'], ['use', 'bad name'], ['git', 'setup', '--host', 'a b'], ['daemon', 'start', '--force'], ['status', '--jsn'],
      ['profile', 'add', 'w', '--provider', 'gitlba', '--client-id', 'x'], ['profile', 'add', 'w', '--provider', 'entra', '--client-id', 'x'],
      ['profile', 'add', 'w', '--provider', 'github'], ['profile', 'add', 'bad name', '--provider', 'github', '--client-id', 'x'],
      ['profile', 'remove', 'w', '--provider', 'github'], ['profile', 'list'], ['profile', 'remove']]) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.connected, argv.join(' ')).toBe(false);
    }
  });

  test('an action git adds in a later version is ignored, without contacting the daemon', async () => {
    const r = await cli(['git-credential', 'capability']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '', connected: false });
  });
});
