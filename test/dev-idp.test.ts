// The local OpenID provider that the other tests and the demo rely on.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDeviceCode, denyDeviceCode, type Idp, type Rotation, startIdp } from '../scripts/dev-idp.mjs';
import { sleep } from './support/harness.js';
import { isGone } from './support/procs.js';
import { onTerminal } from './support/terminal.js';

const repoRoot = new URL('..', import.meta.url).pathname;

let idp: Idp;
let cli: client.Configuration;

beforeAll(async () => {
  idp = await startIdp();
  cli = await client.discovery(new URL(idp.issuer), 'authd-cli', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
    timeout: 5,
  });
});
afterAll(() => idp?.close());

// oidc-provider omits `interval`, so openid-client would wait 5 s per poll.
async function deviceLogin() {
  const da = await client.initiateDeviceAuthorization(cli, { scope: 'openid offline_access' });
  const tokens = client.pollDeviceAuthorizationGrant(cli, { ...da, interval: 0.1 });
  await approveDeviceCode(da.verification_uri_complete!);
  return tokens;
}

const refresh = (refreshToken: string) => client.refreshTokenGrant(cli, refreshToken);

describe('dev IdP', () => {
  it('a device login gives a refresh token, and every token issued is recorded', async () => {
    const t = await deviceLogin();
    expect(t.refresh_token).toBeTypeOf('string');
    expect(t.claims()?.sub).toBe('alice');
    for (const token of [t.access_token, t.refresh_token!, t.id_token!]) expect(idp.issued.has(token)).toBe(true);
    expect(await idp.introspect(t.access_token)).toMatchObject({ active: true, sub: 'alice', client_id: 'authd-cli' });
    expect(await idp.introspect(t.refresh_token!)).toMatchObject({ active: true });
  });

  it('counts one refresh as one, and the refresh rotates the refresh token', async () => {
    const t0 = await deviceLogin();
    const before = { ...idp.stats };
    const t1 = await refresh(t0.refresh_token!);
    expect(idp.stats.refreshes).toBe(before.refreshes + 1);
    expect(idp.stats.tokenRequests).toBe(before.tokenRequests + 1);
    expect(t1.refresh_token).not.toBe(t0.refresh_token);
    expect(idp.issued.has(t1.refresh_token!)).toBe(true);
  });

  it('detects reuse of a rotated refresh token and revokes the grant', async () => {
    const t0 = await deviceLogin();
    const t1 = await refresh(t0.refresh_token!);
    const before = { ...idp.stats };
    await expect(refresh(t0.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(idp.stats.reuseDetected).toBe(before.reuseDetected + 1);
    expect(idp.stats.revokedGrants).toBe(before.revokedGrants + 1);
    await expect(refresh(t1.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('records each rotation of a refresh token as it is answered: what was presented, what was issued, and when', async () => {
    const t0 = await deviceLogin();
    const seen: Rotation[] = [];
    const off = idp.onRotation((r) => seen.push(r));
    const sent = Date.now();
    const t1 = await refresh(t0.refresh_token!);
    await expect(refresh(t0.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    off();
    await refresh(t1.refresh_token!).catch(() => undefined); // after off(): not seen
    expect(seen).toHaveLength(2);
    const [ok, reused] = seen;
    // Compared as booleans: a failed assertion must not print a token.
    expect(ok!.grantType).toBe('refresh_token');
    expect(ok!.presented === t0.refresh_token && ok!.issued === t1.refresh_token && ok!.accessToken === t1.access_token).toBe(true);
    expect(ok!.received).toBeGreaterThanOrEqual(sent);
    expect(ok!.at).toBeGreaterThanOrEqual(ok!.received);
    expect(reused!.presented === t0.refresh_token).toBe(true);
    expect(reused!.issued).toBeUndefined();
    expect(reused!.error).toBe('invalid_grant');
    const login = idp.rotations.find((r) => r.issued === t0.refresh_token);
    expect(login?.grantType).toBe('urn:ietf:params:oauth:grant-type:device_code');
    expect(idp.rotations.at(-1)?.presented === t1.refresh_token).toBe(true);
  });

  it("revokeGrantsFor('alice') ends alice's sessions without knowing any token", async () => {
    const t = await deviceLogin();
    expect(await idp.revokeGrantsFor('alice')).toBeGreaterThanOrEqual(1);
    await expect(refresh(t.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await idp.introspect(t.access_token)).toEqual({ active: false });
  });

  it('revokeRefreshToken kills that session', async () => {
    const t = await deviceLogin();
    expect(await idp.revokeRefreshToken(t.refresh_token!)).toBe(true);
    await expect(refresh(t.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await idp.revokeRefreshToken(t.refresh_token!)).toBe(false);
  });

  it('a denied device login ends in access_denied', async () => {
    const da = await client.initiateDeviceAuthorization(cli, { scope: 'openid offline_access' });
    const tokens = client.pollDeviceAuthorizationGrant(cli, { ...da, interval: 0.1 });
    await denyDeviceCode(da.verification_uri_complete!);
    await expect(tokens).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('stop() refuses connections; start() comes back on the same port with its state', async () => {
    const t = await deviceLogin();
    const { port } = idp;
    await idp.stop();
    // openid-client does not wrap network errors: it is fetch's TypeError with the socket error as cause.
    const down = await refresh(t.refresh_token!).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(TypeError);
    expect((down as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });

    await idp.start();
    expect(idp.port).toBe(port);
    expect((await refresh(t.refresh_token!)).refresh_token).toBeTypeOf('string');
  });
});


describe('node scripts/dev-idp.mjs, run by hand', () => {
  it("on a terminal, starts without oidc-provider's warnings (no \"Node 20 is unsupported\")", async () => {
    const idp = onTerminal('node scripts/dev-idp.mjs', { cwd: repoRoot });
    await idp.printed('Ctrl-C');
    expect(idp.output).toMatch(/http:\/\/127\.0\.0\.1:\d+/);
    expect(await idp.interrupt()).toBe(0);
    // On a terminal oidc-provider wraps each warning in colour codes; none may get through.
    expect(idp.output).not.toContain('WARNING');
    expect(idp.output).not.toContain('Unsupported runtime');
  });

  it('prints one line to paste and the steps of a login; following them logs in as alice, and Ctrl-C cleans up', async () => {
    const idp = spawn(process.execPath, ['scripts/dev-idp.mjs'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    let printed = '';
    idp.stdout.setEncoding('utf8').on('data', (d: string) => (printed += d));
    const exited = once(idp, 'exit');
    try {
      while (!printed.includes('Ctrl-C')) await once(idp.stdout, 'data');
      for (const step of ['authd login', 'Continue', 'no password', '"alice"']) expect(printed).toContain(step);
      const paste = /^\s*(export AUTHD_HOME=.*)$/m.exec(printed)?.[1];
      expect(paste).toBeDefined();
      const home = /AUTHD_HOME=(\S+)/.exec(paste!)![1]!;

      // A shell where authd is not on PATH and no AUTHD_ variable is set: the pasted line does it all.
      const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
      const shell = (cmd: string) => spawn('sh', ['-c', `${paste}\n${cmd}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });

      const login = shell('authd login');
      let said = '';
      login.stderr.setEncoding('utf8').on('data', (d: string) => (said += d));
      const loggedIn = once(login, 'exit');
      while (!/user_code=\S+/.test(said)) await once(login.stderr, 'data');
      await approveDeviceCode(/open (\S+user_code=\S+)/.exec(said)![1]!); // what the browser does at step 3
      expect(await loggedIn).toEqual([0, null]);
      expect(said).toContain('Logged in to dev as alice');

      const status = shell('authd status --json');
      let json = '';
      status.stdout.setEncoding('utf8').on('data', (d: string) => (json += d));
      expect(await once(status, 'exit')).toEqual([0, null]);
      const daemonPid = (JSON.parse(json) as { daemon: { pid: number } }).daemon.pid;

      idp.kill('SIGINT');
      expect(await exited).toEqual([0, null]);
      expect(existsSync(home)).toBe(false);
      // `daemon stop` returns once the socket is closed; the process ends just after.
      for (const deadline = Date.now() + 5000; !isGone(daemonPid) && Date.now() < deadline; ) await sleep(10);
      expect(isGone(daemonPid)).toBe(true);
    } finally {
      idp.kill('SIGKILL');
    }
  });
});
