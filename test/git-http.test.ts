// Real git over real HTTP against a real provider, with git-credential-authd as the helper.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { type GitServer, startGitServer } from './support/git-server.js';
import { devProfile, exitCode, findLeaks, Home, type Result, sleep } from './support/harness.js';

const HELPER = resolve(__dirname, '../bin/git-credential-authd');

let idp: Idp;
let home: Home;
let server: GitServer;
let work: string;

function git(args: string[], cwd = work, h = home): Promise<Result> {
  const env: Record<string, string> = {
    ...h.env,
    HOME: join(home.dir, 'userhome'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'A',
    GIT_AUTHOR_EMAIL: 'a@example.com',
    GIT_COMMITTER_NAME: 'A',
    GIT_COMMITTER_EMAIL: 'a@example.com',
  };
  return new Promise((done) => {
    execFile('git', ['-c', 'credential.helper=', '-c', `credential.helper=${HELPER}`, ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        h.stderrs.push(stderr);
        done({ code: exitCode(err), stdout, stderr });
      });
  });
}

beforeAll(async () => {
  // 3 s tokens, handed out only while 2.5 s are left (min_ttl): git asks once and uses the token for
  // every request of a clone, which on a busy machine took longer than the 0.5 s the default leaves.
  idp = await startIdp({ accessTokenTtl: 3 });
  home = new Home();
  work = join(home.dir, 'work');
  mkdirSync(join(home.dir, 'userhome'), { recursive: true });
  mkdirSync(work, { recursive: true });
  const root = join(home.dir, 'srv');
  mkdirSync(root);
  server = await startGitServer(idp, root);
  // A bare repository with one commit, made with plain git.
  const seed = join(home.dir, 'seed');
  mkdirSync(seed);
  expect((await git(['init', '-q', '-b', 'main'], seed)).code).toBe(0);
  writeFileSync(join(seed, 'README'), 'hello\n');
  await git(['add', 'README'], seed);
  expect((await git(['commit', '-q', '-m', 'first'], seed)).code).toBe(0);
  expect((await git(['clone', '-q', '--bare', seed, join(root, 'repo.git')], home.dir)).code).toBe(0);

  const hostPort = server.url.replace('http://', '');
  home.writeConfig({ git: devProfile(idp, { git_hosts: [hostPort], git_username: 'oauth2', min_ttl: 2.5 }) }, { default_profile: 'git' });
  await home.login();
});

afterAll(async () => {
  await server?.close();
  await home?.dispose();
  await idp?.close();
});

test('git clone, fetch after the token expired, and push all authenticate with tokens from authd', async () => {
  const clone = await git(['clone', '-q', `${server.url}/repo.git`, 'repo']);
  expect(clone.stderr).toBe('');
  expect(clone.code).toBe(0);
  expect(server.usernames.at(-1)).toBe('oauth2');
  const first = server.tokens.at(-1)!;

  await sleep(3500);
  const refreshesBefore = idp.stats.refreshes;
  const fetch = await git(['fetch', '-q'], join(work, 'repo'));
  expect(fetch.code).toBe(0);
  const second = server.tokens.at(-1)!;
  expect(second).not.toBe(first);
  expect(idp.stats.refreshes).toBeGreaterThan(refreshesBefore);

  writeFileSync(join(work, 'repo', 'NEW'), 'pushed\n');
  await git(['add', 'NEW'], join(work, 'repo'));
  expect((await git(['commit', '-q', '-m', 'second'], join(work, 'repo'))).code).toBe(0);
  const push = await git(['push', '-q', 'origin', 'main'], join(work, 'repo'));
  expect(push.stderr).toBe('');
  expect(push.code).toBe(0);
  const log = await git(['log', '--oneline', 'main'], join(home.dir, 'srv', 'repo.git'));
  expect(log.stdout).toContain('second');
});

test('a token the server rejects is erased by git; the next fetch refreshes and succeeds', async () => {
  // Tokens that live 30 s here, so nothing but the rejection can cause the refresh.
  const idp30 = await startIdp({ accessTokenTtl: 30 });
  const server30 = await startGitServer(idp30, join(home.dir, 'srv'));
  const home30 = new Home();
  try {
    home30.writeConfig({ git: devProfile(idp30, { git_hosts: [server30.url.slice(7)] }) });
    await home30.login();
    const repo = join(home30.dir, 'repo');
    expect((await git(['clone', '-q', `${server30.url}/repo.git`, repo], home30.dir, home30)).code).toBe(0);
    const good = server30.tokens.at(-1)!;
    server30.rejectNext(1);
    const refused = await git(['fetch', '-q'], repo, home30);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Authentication failed/);
    expect(await home30.logWith('access token dropped: a server rejected it')).toContain('access token dropped: a server rejected it');
    expect(idp30.stats.refreshes).toBe(0);
    const again = await git(['fetch', '-q'], repo, home30);
    expect(again.code).toBe(0);
    expect(server30.tokens.at(-1)).not.toBe(good);
    expect(idp30.stats.refreshes).toBe(1);
    expect(idp30.stats.reuseDetected).toBe(0);
    expect(idp30.stats.revokedGrants).toBe(0);
    expect(findLeaks(idp30, { log: home30.stateFilesText(), stderr: home30.stderrs.join('\n') })).toEqual([]);
  } finally {
    await home30.dispose();
    await server30.close();
    await idp30.close();
  }
});

test('git never gets the refresh token, and nothing is stored for a mapped host', async () => {
  const rt = home.storedSession('git')?.refresh_token as string;
  expect(rt).toBeTypeOf('string');
  expect(server.tokens).not.toContain(rt);
  const fill = await home.run(['git-credential', 'get'], { input: `protocol=http\nhost=${server.url.slice(7)}\n\n` });
  expect(fill.stdout).not.toContain(rt);
  expect(fill.stdout).not.toContain('oauth_refresh_token');
  expect(fill.stdout).toMatch(/^username=oauth2\npassword=\S+\npassword_expiry_utc=\d+\n$/);
  const stored = await home.run(['git-credential', 'store'], { input: `protocol=http\nhost=${server.url.slice(7)}\nusername=oauth2\npassword=x\n\n` });
  expect(stored.code).toBe(0);
  const { readFileSync } = await import('node:fs');
  const entries = Object.keys((JSON.parse(readFileSync(join(home.stateDir, 'credentials.json'), 'utf8')) as { entries: object }).entries);
  expect(entries).toEqual(['git']);
});

test('by default even a git that announces capability authtype gets a username and password (git 2.46-2.53 drop Bearer on large pushes)', async () => {
  const r = await home.run(['git-credential', 'get'], {
    input: `capability[]=authtype\nprotocol=http\nhost=${server.url.slice(7)}\nwwwauth[]=Basic realm="x"\n\n`,
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^username=oauth2\npassword=\S+\npassword_expiry_utc=\d+\n$/);
  expect(r.stdout).not.toContain('authtype');
});

test('with git_auth = "bearer", a git that announces capability authtype gets a Bearer credential marked ephemeral', async () => {
  const hostPort = server.url.slice(7);
  home.writeConfig({ git: devProfile(idp, { git_hosts: [hostPort], git_username: 'oauth2', git_auth: 'bearer', min_ttl: 2.5 }) }, { default_profile: 'git' });
  onTestFinished(() => home.writeConfig({ git: devProfile(idp, { git_hosts: [hostPort], git_username: 'oauth2', min_ttl: 2.5 }) }, { default_profile: 'git' }));
  await sleep(20); // a new mtime for the config
  expect((await home.run(['git', 'status'])).stdout).toMatch(/\sbearer\s/);
  const r = await home.run(['git-credential', 'get'], {
    input: `capability[]=authtype\nprotocol=http\nhost=${server.url.slice(7)}\nwwwauth[]=Basic realm="x"\n\n`,
  });
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines.slice(0, 2)).toEqual(['capability[]=authtype', 'authtype=Bearer']);
  expect(lines[2]).toMatch(/^credential=\S+$/);
  expect(lines).toContain('ephemeral=1');
  expect(r.stdout).not.toContain('password=');
  expect((await idp.introspect(lines[2]!.slice('credential='.length))).active).toBe(true);
});

test('a dead session gives git nothing and the user one line saying how to log in', async () => {
  await idp.revokeGrantsFor('alice');
  await sleep(3100);
  const r = await home.run(['git-credential', 'get'], { input: `protocol=http\nhost=${server.url.slice(7)}\n\n` });
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe('authd: login required for profile git: run authd login -p git\n');
  const fetch = await git(['fetch', '-q'], join(work, 'repo'));
  expect(fetch.code).not.toBe(0);
  expect(fetch.stderr).toContain('authd: login required for profile git: run authd login -p git');
});

test('no token the provider issued appears in the log or on any stderr', () => {
  expect(findLeaks(idp, { log: home.stateFilesText(), stderr: home.stderrs.join('\n') })).toEqual([]);
});

test('authd git setup points git at authd for the mapped hosts, and git status shows the map', async () => {
  const userHome = join(home.dir, 'setup-home');
  mkdirSync(userHome);
  const env = { HOME: userHome, GIT_CONFIG_NOSYSTEM: '1' };
  const hostPort = server.url.slice(7);
  const setup = await home.run(['git', 'setup'], { env });
  expect(setup.code).toBe(0);
  expect(setup.stderr).toContain(`✓ git uses authd for https://${hostPort}`);
  const { readFileSync } = await import('node:fs');
  const gitconfig = readFileSync(join(userHome, '.gitconfig'), 'utf8');
  expect(gitconfig).toContain(`[credential "https://${hostPort}"]`);
  expect(gitconfig).toContain('helper = \n');
  expect(gitconfig).toContain(`helper = ${HELPER}`);
  // Twice is the same as once.
  await home.run(['git', 'setup'], { env });
  expect(readFileSync(join(userHome, '.gitconfig'), 'utf8')).toBe(gitconfig);

  const status = await home.run(['git', 'status'], { env });
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(new RegExp(`${hostPort.replace('.', '\\.')}\\s+git\\s+oauth2\\s+basic\\s+${HELPER}`));
  expect(status.stdout).toContain('other hosts: not handled by authd');

  const all = await home.run(['git', 'setup', '--all', '--host', 'example.org'], { env });
  expect(all.code).toBe(0);
  const after = readFileSync(join(userHome, '.gitconfig'), 'utf8');
  expect(after).toContain('[credential "https://example.org"]');
  expect(after).toMatch(/\[credential\]\n\thelper = .*git-credential-authd/);
  expect((await home.run(['git', 'status'], { env })).stdout).toContain('other hosts: stored by authd');

  const bad = await home.run(['git', 'setup', '--host', 'https://x/y'], { env });
  expect(bad.code).toBe(2);
});
