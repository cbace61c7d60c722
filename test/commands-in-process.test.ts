// Each command's success path in-process (issue 11): what it prints, its exit code, and what the
// stand-in daemon was asked — logout, use, secret set, store migrate, profile add/remove, git
// setup/status (against real git, on a throwaway global config), ssh (which ssh commands it runs,
// with a recording ssh on PATH) and completion. Then a made-up command, added to a table, gets
// help, did-you-mean and completion with nothing else changed. The daemon's side of each is tested
// with the real binary elsewhere.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { type Command, HELP_FLAG } from '../src/client/command.js';
import { completionScript } from '../src/client/commands/completion.js';
import { COMMANDS } from '../src/client/commands/index.js';
import { helperCommand } from '../src/client/git-config.js';
import type { Methods } from '../src/protocol/index.js';
import { type Answers, cli, program } from './support/in-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'authd-inproc.'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('authd logout', () => {
  const logout = (...profiles: Methods['logout']['result']['profiles']): Answers => ({ logout: () => ({ profiles }) });

  test('the default profile: asks logout with no profile, says it was revoked, exit 0', async () => {
    const r = await cli(['logout'], logout({ profile: 'acme', revoked: true, removed: true }));
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Logged out of acme (revoked at the provider)\n' });
    expect(r.requests).toEqual([{ method: 'logout', params: {} }]);
  });

  test('-p, or AUTHD_PROFILE, names the profile; a provider that cannot revoke gets its note', async () => {
    const answers = logout({ profile: 'ci', revoked: false, removed: true, note: 'the provider has no revocation endpoint' });
    for (const [argv, env] of [[['logout', '-p', 'ci'], {}], [['logout'], { AUTHD_PROFILE: 'ci' }]] as const) {
      const r = await cli([...argv], answers, env);
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Logged out of ci\n  the provider has no revocation endpoint\n' });
      expect(r.requests).toEqual([{ method: 'logout', params: { profile: 'ci' } }]);
    }
  });

  test('--all asks for every profile, and says which were not logged in', async () => {
    const r = await cli(['logout', '--all'], logout({ profile: 'acme', revoked: true, removed: true }, { profile: 'idle', revoked: false, removed: false }));
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Logged out of acme (revoked at the provider)\nprofile idle was not logged in\n' });
    expect(r.requests).toEqual([{ method: 'logout', params: { all: true } }]);
  });
});

test('authd use P: asks use for P and says the new default', async () => {
  const r = await cli(['use', 'work'], { use: ({ profile }) => ({ defaultProfile: profile }) });
  expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Default profile is now work\n' });
  expect(r.requests).toEqual([{ method: 'use', params: { profile: 'work' } }]);
});

describe('authd secret set', () => {
  const SECRET = 's3cr3t value with spaces';

  test('the secret comes from stdin (its one trailing newline dropped), goes to the daemon, and is never printed', async () => {
    const r = await cli(['secret', 'set', 'ci'], { secretSet: (p) => ({ profile: p.profile!, replaced: false }) }, {}, `${SECRET}\n`);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Stored the secret for profile ci\n' });
    expect(r.requests).toEqual([{ method: 'secretSet', params: { profile: 'ci', value: SECRET } }]);
  });

  test('--expires goes as Unix seconds; a replacement and the expiry are said', async () => {
    const r = await cli(['secret', 'set', 'stripe', '--expires', '2030-06-30T17:00:00+02:00'],
      { secretSet: (p) => ({ profile: p.profile!, replaced: true, expiresAt: p.expiresAt! }) }, {}, SECRET);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Stored the secret for profile stripe (replacing the previous one), valid until 2030-06-30T15:00:00Z\n' });
    expect(r.requests).toEqual([{ method: 'secretSet', params: { profile: 'stripe', value: SECRET, expiresAt: Date.UTC(2030, 5, 30, 15) / 1000 } }]);
  });

  test('nothing on stdin: exit 2, and the daemon is not contacted', async () => {
    const r = await cli(['secret', 'set', 'ci'], {}, {}, '\n');
    expect(r).toMatchObject({ code: 2, stdout: '', connected: false, stderr: 'authd: no secret on stdin\n  pipe it in: authd secret set ci < file\n' });
  });
});

test('authd store migrate --to keyring: asks storeMigrate and says what moved and that the config says so now', async () => {
  const r = await cli(['store', 'migrate', '--to', 'keyring'], { storeMigrate: ({ to }) => ({ from: 'file', to, moved: 3, configUpdated: true }) });
  expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Moved 3 entries from the file store to the keyring store\n  (set store = "keyring" in the config)\n' });
  expect(r.requests).toEqual([{ method: 'storeMigrate', params: { to: 'keyring' } }]);
  const one = await cli(['store', 'migrate', '--to=file'], { storeMigrate: ({ to }) => ({ from: 'keyring', to, moved: 1, configUpdated: false }) });
  expect(one).toMatchObject({ code: 0, stderr: '✓ Moved 1 entry from the keyring store to the file store\n' });
  expect(one.requests).toEqual([{ method: 'storeMigrate', params: { to: 'file' } }]);
});

describe('authd profile', () => {
  const added: Methods['profileAdd']['result'] = {
    profile: 'work', provider: 'GitHub', configPath: '/c/config.toml', created: true, madeDefault: true,
    section: '[profiles.work]\n# the client\nclient_id = "Iv23liABCDEF"\n', register: ['Create a GitHub App.', 'Tick "Enable Device Flow".'],
  };

  test('add: sends the preset and its options, prints the section written, what to register, and how to log in', async () => {
    const r = await cli(['profile', 'add', 'work', '--provider', 'github', '--client-id', 'Iv23liABCDEF', '--git-host', 'github.com', '--git-host', 'ghe.acme.test', '--default'],
      { profileAdd: () => added });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      '✓ Created /c/config.toml (now the default profile):', '',
      '  [profiles.work]', '  # the client', '  client_id = "Iv23liABCDEF"', '',
      'Next, at GitHub:', '  - Create a GitHub App.', '  - Tick "Enable Device Flow".',
      'Then log in: authd login -p work', '',
    ]);
    expect(r.requests).toEqual([{ method: 'profileAdd', params: {
      profile: 'work', provider: 'github', options: { clientId: 'Iv23liABCDEF', gitHosts: ['github.com', 'ghe.acme.test'] }, makeDefault: true,
    } }]);
  });

  test('add to an existing file, not as the default', async () => {
    const r = await cli(['profile', 'add', 'work', '--provider', 'github', '--client-id', 'Iv23liABCDEF'], { profileAdd: () => ({ ...added, created: false, madeDefault: false }) });
    expect(r.stderr).toMatch(/^✓ Added to \/c\/config\.toml:\n\n/);
    expect(r.requests).toEqual([{ method: 'profileAdd', params: { profile: 'work', provider: 'github', options: { clientId: 'Iv23liABCDEF' }, makeDefault: false } }]);
  });

  test('remove: asks profileRemove, and says when default_profile went with it', async () => {
    const answers = (defaultCleared: boolean): Answers => ({ profileRemove: ({ profile }) => ({ profile, configPath: '/c/config.toml', defaultCleared }) });
    const r = await cli(['profile', 'remove', 'work'], answers(false));
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ Removed profile work from /c/config.toml\n' });
    expect(r.requests).toEqual([{ method: 'profileRemove', params: { profile: 'work' } }]);
    const d = await cli(['profile', 'remove', 'work'], answers(true));
    expect(d).toMatchObject({ code: 0, stderr: '✓ Removed profile work from /c/config.toml\n'
      + '  It was the default profile: default_profile is gone too; choose another with `authd use NAME`.\n' });
  });
});

describe('authd git, against real git on a throwaway global config', () => {
  const hosts: Methods['gitHosts']['result'] = {
    configPath: '/c/config.toml',
    hosts: [{ host: 'git.acme.test', profile: 'acme', username: 'oauth2', auth: 'basic' }, { host: 'git.team.test/team', profile: 'team', username: 'x', auth: 'bearer' }],
  };
  const answers: Answers = { gitHosts: () => hosts };
  const dir = join(scratch, 'git-user');
  mkdirSync(dir, { recursive: true });
  const env = { HOME: dir, GIT_CONFIG_GLOBAL: join(dir, '.gitconfig'), GIT_CONFIG_NOSYSTEM: '1', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const entries = () => {
    try {
      return execFileSync('git', ['config', '--global', '--get-regexp', '^credential\\.'], { env, encoding: 'utf8' }).split('\n').slice(0, -1);
    } catch {
      return []; // exit 1: none
    }
  };
  // In-process the launcher is reckoned from the sources, so git gets it by absolute path.
  const helper = helperCommand(env);

  test('status before setup: the host map, each host not yet authd\'s', async () => {
    const r = await cli(['git', 'status'], answers, env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.split('\n')).toEqual([
      'HOST                PROFILE  USERNAME  GIT AUTH  GIT HELPER',
      'git.acme.test       acme     oauth2    basic     not authd: run `authd git setup`',
      'git.team.test/team  team     x         bearer    not authd: run `authd git setup`',
      'other hosts: not handled by authd (authd git setup --all)', '',
    ]);
    expect(r.requests).toEqual([{ method: 'gitHosts', params: {} }]);
  });

  test('setup: an empty value then authd for each mapped host (and useHttpPath for a path), exit 0', async () => {
    expect(helper).toMatch(/^\/.*\/git-credential-authd$/);
    const r = await cli(['git', 'setup'], answers, env);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '✓ git uses authd for https://git.acme.test\n✓ git uses authd for https://git.team.test\n' });
    expect(r.requests).toEqual([{ method: 'gitHosts', params: {} }]);
    expect(entries()).toEqual([
      'credential.https://git.acme.test.helper ', `credential.https://git.acme.test.helper ${helper}`,
      'credential.https://git.team.test.helper ', `credential.https://git.team.test.helper ${helper}`, 'credential.https://git.team.test.usehttppath true',
    ]);
    const again = await cli(['git', 'setup'], answers, env);
    expect(again.code).toBe(0);
    expect(entries()).toHaveLength(5);
  });

  test('status --json after setup: the helper git runs for each host', async () => {
    const r = await cli(['git', 'status', '--json'], answers, env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      hosts: [
        { host: 'git.acme.test', profile: 'acme', username: 'oauth2', git_auth: 'basic', git_helper: helper },
        { host: 'git.team.test/team', profile: 'team', username: 'x', git_auth: 'bearer', git_helper: helper },
      ],
      other_hosts: { git_helper: null },
    });
  });

  test('setup --undo: removes what setup wrote, and says each entry', async () => {
    const r = await cli(['git', 'setup', '--undo'], answers, env);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n')).toEqual([
      `✓ removed credential.https://git.acme.test.helper = ${helper}`, '✓ removed credential.https://git.acme.test.helper = (the empty value)',
      `✓ removed credential.https://git.team.test.helper = ${helper}`, '✓ removed credential.https://git.team.test.helper = (the empty value)',
      '✓ removed credential.https://git.team.test.useHttpPath = true',
      'helpers that `authd git setup` replaced (such as store) are not restored', '',
    ]);
    expect(entries()).toEqual([]);
    expect(readFileSync(env.GIT_CONFIG_GLOBAL, 'utf8')).toBe('');
  });
});

describe('authd ssh: the ssh commands it runs', () => {
  // A recording ssh: each run's words (one per line, then a blank line); the master prints the far
  // side's directory and holds until its stdin ends; the forward succeeds; the session exits 7.
  const bin = join(scratch, 'ssh-bin');
  const log = join(scratch, 'ssh.log');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh
{ for a; do printf '%s\\n' "$a"; done; echo; } >> '${log}'
case " $* " in
  *" ControlMaster=yes "*) echo 'motd from the far side'; echo 'authd-forward-dir:/run/far/authd-forward'; cat >/dev/null; exit 0 ;;
  *" -O forward "*) exit 0 ;;
  *) exit 7 ;;
esac
`, { mode: 0o755 });
  const home = join(scratch, 'ssh-home');
  const restricted = join(home, 'run', 'authd.restricted', 'authd.sock');
  mkdirSync(join(home, 'run', 'authd.restricted'), { recursive: true });
  writeFileSync(restricted, '');
  const env = { AUTHD_HOME: home, PATH: `${bin}:${process.env.PATH}` };
  const profiles = (forward: boolean): Answers => ({
    ping: () => ({ pid: 1, version: '1', socket: '/s' }),
    profiles: () => ({ configPath: '/c/config.toml', profiles: [{ name: 'acme', flow: 'device', isDefault: true, ...(forward ? { forward: true as const } : {}) }] }),
  });
  /** The runs of ssh, the control directory and socket name (random) as CTL and NAME. */
  const runs = () => {
    const text = readFileSync(log, 'utf8');
    const ctl = /ControlPath=(.*)\/ctl\n/.exec(text)![1]!;
    const name = /authd-ssh ([0-9a-f]{16}\.sock)\n/.exec(text)![1]!;
    return text.replaceAll(ctl, 'CTL').replaceAll(name, 'NAME').split('\n\n').slice(0, -1).map((run) => run.split('\n'));
  };

  test('ssh options go to the master and the session, the socket is forwarded, the command runs there; the exit code is the session\'s', async () => {
    writeFileSync(log, '');
    const r = await cli(['ssh', '-p', '2222', '-vt', 'build.example', '--', 'make', '-j4'], profiles(true), env);
    expect(r).toMatchObject({ code: 7, stdout: '', stderr: '' });
    expect(r.requests).toEqual([{ method: 'ping', params: {} }, { method: 'profiles', params: {} }]);
    const [master, forward, session, ...more] = runs();
    expect(more).toEqual([]);
    expect(master).toEqual(['-o', 'ControlPath=CTL/ctl', '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'ExitOnForwardFailure=yes',
      '-o', 'StreamLocalBindUnlink=yes', '-o', 'RemoteCommand=none', '-p', '2222', '-v', '-T', '--', 'build.example',
      `sh -c 'umask 077; d=\${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/authd-forward}; d=\${d:-$HOME/.authd/forward}; mkdir -p "$d" && chmod 700 "$d" && cd "$d" && p=$(pwd -P) && echo "authd-forward-dir:$p" && cat >/dev/null; rm -f "./$1"' authd-ssh NAME`]);
    expect(forward).toEqual(['-F', '/dev/null', '-o', 'ControlPath=CTL/ctl', '-o', 'ExitOnForwardFailure=yes', '-O', 'forward',
      '-R', `/run/far/authd-forward/NAME:${restricted}`, '--', 'build.example']);
    expect(session!.slice(0, -1)).toEqual(['-o', 'ControlPath=CTL/ctl', '-o', 'ControlMaster=no', '-o', 'ClearAllForwardings=yes', '-o', 'RemoteCommand=none',
      '-p', '2222', '-v', '-t', '--', 'build.example']);
    expect(session!.at(-1)).toMatch(/^sh -c '.*' authd-ssh \/run\/far\/authd-forward\/NAME 'make -j4'$/);
  });

  test('with no profile to forward it warns, and still connects', async () => {
    writeFileSync(log, '');
    const r = await cli(['ssh', 'build.example', '--', 'true'], profiles(false), env);
    expect(r.code).toBe(7);
    expect(r.stderr).toBe('authd: warning: no profile has forward = true, so nothing is served on build.example\n'
      + '  to serve one there, add forward = true to its [profiles.NAME] in /c/config.toml\n');
    expect(runs().map((run) => run.at(-1))).toEqual([expect.stringMatching(/authd-ssh NAME$/), 'build.example', expect.stringMatching(/^sh -c '.*' authd-ssh \/run\/far\/authd-forward\/NAME true$/)]);
  });
});

test('authd completion SHELL prints the script of the table the program runs, contacting no daemon', async () => {
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const r = await cli(['completion', shell]);
    expect(r).toMatchObject({ code: 0, stderr: '', connected: false });
    expect(r.stdout).toBe(completionScript(shell, COMMANDS));
  }
});

describe('a new command is its file and one entry in the table', () => {
  // A command as a new file in src/client/commands/ would hold it; then the table is COMMANDS and it.
  const frobnicate: Command<{ loud: boolean; widget?: string }> = {
    name: 'frobnicate',
    synopsis: 'frobnicate on|off [--loud]',
    summary: 'frobnicate the widgets',
    help: 'Usage: authd frobnicate on|off [--loud] [--widget left|right]\n\nFrobnicates the widgets.\n',
    flags: { loud: {}, widget: { value: true, values: ['left', 'right'] }, ...HELP_FLAG },
    subcommands: ['on', 'off'],
    parse: (args) => ({ loud: args.flags.loud === true, widget: args.flags.widget as string | undefined }),
    async run(opts, io, connect) {
      const { pid } = await (await connect()).request('ping', {});
      io.stdout.write(`frobnicated${opts.loud ? ' LOUDLY' : ''} (daemon ${pid})\n`);
      return 0;
    },
  };
  const withIt = program([...COMMANDS, frobnicate]);

  test('it runs, with its flags parsed and the daemon reached', async () => {
    const r = await withIt(['frobnicate', 'on', '--loud'], { ping: () => ({ pid: 42, version: '1', socket: '/s' }) });
    expect(r).toMatchObject({ code: 0, stdout: 'frobnicated LOUDLY (daemon 42)\n', stderr: '' });
    expect(r.requests).toEqual([{ method: 'ping', params: {} }]);
    expect((await cli(['frobnicate'])).stderr).toMatch(/^authd: unknown command "frobnicate"/);
  });

  test('the top-level help lists it, and `help frobnicate` shows its help', async () => {
    const help = await withIt(['--help']);
    expect(help.stdout).toContain('\n  frobnicate on|off [--loud]        frobnicate the widgets\n');
    expect((await cli(['--help'])).stdout).not.toContain('frobnicate');
    expect((await withIt(['help', 'frobnicate'])).stdout).toBe(frobnicate.help);
  });

  test('did-you-mean finds it and its flags', async () => {
    const r = await withIt(['frobnicat', 'on']);
    expect(r).toMatchObject({ code: 2, connected: false });
    expect(r.stderr).toMatch(/^authd: unknown command "frobnicat" \(did you mean `authd frobnicate`\?\)\n/);
    const f = await withIt(['frobnicate', 'on', '--lodu']);
    expect(f.stderr).toMatch(/^authd: unknown option --lodu for authd frobnicate \(did you mean --loud\?\)\n/);
  });

  test('`completion bash` offers it, its flags, its words and its flag values', async () => {
    const r = await withIt(['completion', 'bash']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(completionScript('bash', [...COMMANDS, frobnicate]));
    expect(r.stdout).toContain("    'frobnicate') flags='--loud --widget --help -h' valued='--widget' subs='on off' ;;");
    expect(r.stdout).toContain("    'frobnicate:--widget') printf '%s\\n' 'left' 'right' ;;");
    expect((await cli(['completion', 'bash'])).stdout).not.toContain('frobnicate');
  });
});
