// `authd git setup` against real git: whatever order the user's global config is in, git asks authd
// once for a mapped host; the helper is written as `authd` when PATH finds this installation; --undo
// gives the config back; `git status --json` says what git runs. Counted by the one line authd prints
// when there is no session, so each run of authd by git shows.
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home } from './support/harness.js';

const BIN = resolve(__dirname, '../bin');
const HELPER = join(BIN, 'git-credential-authd');
const GIT_247 = process.env.AUTHD_TEST_GIT ?? '/opt/authd-test-git/2.47.3/bin/git';
const GITS = ['git', ...(existsSync(GIT_247) ? [GIT_247] : [])];
/** node (the launchers need it) and git, and no git-credential-authd. */
const PLAIN_PATH = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
const HOST = 'git.acme.test';
const LOGIN_LINE = /authd: login required for profile acme/g;

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp();
  home = new Home();
  // Never logged in: every time git runs authd for the host, authd says so on stderr.
  home.writeConfig({ acme: devProfile(idp, { git_hosts: [HOST, 'git.team.test/team'] }) }, { default_profile: 'acme' });
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

/** A user whose global git config starts as TEXT (none when undefined). */
class GitUser {
  readonly dir = mkdtempSync(join(home.dir, 'user.'));
  readonly config = join(this.dir, '.gitconfig');
  path = PLAIN_PATH;

  constructor(text?: string) {
    if (text !== undefined) writeFileSync(this.config, text);
  }

  get env(): Record<string, string> {
    return { HOME: this.dir, GIT_CONFIG_GLOBAL: this.config, GIT_CONFIG_NOSYSTEM: '1', XDG_CONFIG_HOME: join(this.dir, '.config'), PATH: this.path, GIT_TERMINAL_PROMPT: '0' };
  }

  /** A bin directory on PATH with links to our launchers, as `npm install -g` makes. */
  installOnPath(): void {
    const bin = join(this.dir, 'node-bin');
    mkdirSync(bin);
    for (const name of ['authd', 'git-credential-authd']) symlinkSync(join(BIN, name), join(bin, name));
    this.path = `${bin}:${PLAIN_PATH}`;
  }

  authd(...args: string[]) {
    return home.run(args, { env: this.env });
  }

  text(): string {
    return readFileSync(this.config, 'utf8');
  }

  /** How many times `git credential fill` for https://HOST/ ran authd. */
  authdRuns(git = 'git', host = HOST): Promise<number> {
    return new Promise((done, fail) => {
      const child = execFile(git, ['credential', 'fill'], { env: { ...home.env, ...this.env }, encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) => {
        // No credential and no prompt: git gives up, after asking every helper.
        if (!err || !/terminal prompts disabled/.test(stderr)) fail(new Error(`git credential fill: ${stderr}`));
        else done(stderr.match(LOGIN_LINE)?.length ?? 0);
      });
      child.stdin?.end(`protocol=https\nhost=${host}\n\n`);
    });
  }
}

test('the test PATH has no git-credential-authd of its own', () => {
  for (const dir of PLAIN_PATH.split(':')) expect(existsSync(join(dir, 'git-credential-authd'))).toBe(false);
});

describe.each([
  ['no global git config', undefined],
  ['[credential] with another helper before the host sections', '[credential]\n\thelper = store\n[user]\n\tname = A\n'],
  ['[credential] after a section of the host that has another helper', `[credential "https://${HOST}"]\n\thelper = cache\n[credential]\n\thelper = store\n`],
  ['a reset in [credential] after the host section', `[credential "https://${HOST}"]\n\tusername = bob\n[credential]\n\thelper =\n\thelper = store\n`],
])('with %s', (_name, initial) => {
  test('after setup and setup --all, git runs authd once for a mapped host, and setup again changes nothing', async () => {
    const user = new GitUser(initial);
    const setup = await user.authd('git', 'setup');
    const all = await user.authd('git', 'setup', '--all');
    expect(all.stderr).toContain(`✓ git uses authd for https://${HOST}`);
    expect(all.code).toBe(0);
    for (const git of GITS) expect(await user.authdRuns(git), `${git}, config:\n${user.text()}`).toBe(1);
    expect(user.text()).toMatch(/\[credential\]\n\thelper = \S*git-credential-authd\n/);

    const once = user.text();
    expect((await user.authd('git', 'setup', '--all')).code).toBe(0);
    expect((await user.authd('git', 'setup')).code).toBe(0);
    expect(user.text()).toBe(once);
    // Setup alone, before --all, already made git ask authd once (unless a later reset undoes it: below).
    if (!initial?.includes('helper =\n')) expect(setup.code).toBe(0);
  });
});

test('setup without --all says so when a later credential.helper reset keeps git from running authd', async () => {
  const user = new GitUser(`[credential "https://${HOST}"]\n\tusername = bob\n[credential]\n\thelper =\n\thelper = store\n`);
  const r = await user.authd('git', 'setup', '--host', HOST);
  expect(r.stderr).toContain(`! git would run authd not at all for https://${HOST}`);
  expect(r.code).toBe(1);
  expect(await user.authdRuns()).toBe(0);
});

describe('the helper setup writes', () => {
  test('is `authd` when git-credential-authd on PATH is this installation, and git finds it there', async () => {
    const user = new GitUser();
    user.installOnPath();
    expect((await user.authd('git', 'setup', '--all')).code).toBe(0);
    expect(user.text()).toContain('\thelper = authd\n');
    expect(user.text()).not.toContain(HELPER);
    for (const git of GITS) expect(await user.authdRuns(git)).toBe(1);
    expect((await user.authd('git', 'status')).stdout).toMatch(new RegExp(`${HOST}\\s+acme\\s+oauth2\\s+basic\\s+authd\\n`));
  });

  test('is this installation\'s absolute path when PATH has no git-credential-authd, or another one', async () => {
    const plain = new GitUser();
    expect((await plain.authd('git', 'setup', '--all')).code).toBe(0);
    expect(plain.text()).toContain(`\thelper = ${HELPER}\n`);
    expect(await plain.authdRuns()).toBe(1);

    const other = new GitUser();
    const otherBin = join(other.dir, 'other-bin');
    mkdirSync(otherBin);
    copyFileSync(HELPER, join(otherBin, 'git-credential-authd'));
    other.path = `${otherBin}:${PLAIN_PATH}`;
    expect((await other.authd('git', 'setup', '--all')).code).toBe(0);
    expect(other.text()).toContain(`\thelper = ${HELPER}\n`);
    expect(other.text()).not.toContain('helper = authd');
  });

  test('moves from the absolute path to `authd` when setup runs again with this installation on PATH', async () => {
    const user = new GitUser();
    await user.authd('git', 'setup', '--all');
    user.installOnPath();
    expect((await user.authd('git', 'setup')).code).toBe(0);
    expect(user.text()).not.toContain(HELPER);
    expect(await user.authdRuns()).toBe(1);
  });
});

describe('git setup --undo', () => {
  const ORIGINAL = '[user]\n\tname = A\n\temail = a@example.com\n[credential "https://other.example"]\n\thelper = store\n[core]\n\tautocrlf = input\n';

  test('after setup --all, gives back the config as it was, and says what it removed', async () => {
    const user = new GitUser(ORIGINAL);
    expect((await user.authd('git', 'setup')).code).toBe(0);
    expect((await user.authd('git', 'setup', '--all')).code).toBe(0);
    expect(user.text()).not.toBe(ORIGINAL);
    const undo = await user.authd('git', 'setup', '--undo');
    expect(undo.code).toBe(0);
    expect(user.text()).toBe(ORIGINAL);
    expect(undo.stderr).toContain(`✓ removed credential.helper = ${HELPER}\n`);
    expect(undo.stderr).toContain('✓ removed credential.https://git.team.test.useHttpPath = true\n');
    expect(undo.stderr).toContain('not restored');
    expect(await user.authdRuns()).toBe(0);
    expect((await user.authd('git', 'setup', '--undo')).stderr).toContain("nothing of authd's in your global git config to remove");
  });

  test('removes authd written as `authd` too, and keeps the reset when another helper is configured for the host', async () => {
    const user = new GitUser(ORIGINAL);
    user.installOnPath();
    expect((await user.authd('git', 'setup')).code).toBe(0);
    execFileSync('git', ['config', '--global', '--add', `credential.https://${HOST}.helper`, 'cache'], { env: { ...process.env, ...user.env } });
    user.path = PLAIN_PATH;
    const undo = await user.authd('git', 'setup', '--undo');
    expect(undo.code).toBe(0);
    expect(undo.stderr).toContain(`✓ removed credential.https://${HOST}.helper = authd\n`);
    expect(user.text()).toContain(`[credential "https://${HOST}"]\n\thelper = \n\thelper = cache\n`);
    expect(user.text()).not.toContain('authd');
  });

  test('with --host, leaves the other hosts and credential.helper alone', async () => {
    const user = new GitUser(ORIGINAL);
    await user.authd('git', 'setup', '--host', HOST, '--host', 'git.two.test');
    const undo = await user.authd('git', 'setup', '--undo', '--host', 'git.two.test');
    expect(undo.code).toBe(0);
    expect(user.text()).not.toContain('git.two.test');
    expect(await user.authdRuns()).toBe(1);
  });
});

test('git status --json says, for each mapped host and for the others, which authd entry git runs', async () => {
  const user = new GitUser();
  const before = await user.authd('git', 'status', '--json');
  expect(before.code).toBe(0);
  expect(JSON.parse(before.stdout)).toEqual({
    hosts: [
      { host: HOST, profile: 'acme', username: 'oauth2', git_auth: 'basic', git_helper: null },
      { host: 'git.team.test/team', profile: 'acme', username: 'oauth2', git_auth: 'basic', git_helper: null },
    ],
    other_hosts: { git_helper: null },
  });
  await user.authd('git', 'setup', '--all');
  const after = JSON.parse((await user.authd('git', 'status', '--json')).stdout);
  expect(after.hosts.map((h: { git_helper: unknown }) => h.git_helper)).toEqual([HELPER, HELPER]);
  expect(after.other_hosts).toEqual({ git_helper: HELPER });
});
