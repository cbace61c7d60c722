// A daemon that is there but does not answer (stopped with SIGSTOP, wedged): the kernel still
// accepts connections for it, so without a limit every client waited forever. Clients now give up
// with exit 5 and say how to replace it; `authd daemon stop --force` does.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { expect, test } from 'vitest';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home } from './support/harness.js';
import { isGone } from './support/procs.js';
import { Hold, type OnFinished, ProviderBehaviour } from './support/provider-behaviour.js';

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };

/** Clients give up on a silent daemon after 1 s here (10 s by default). */
const PATIENCE = { AUTHD_NOT_ANSWERING_MS: '1000' };

// Each test has its own provider and home, and waits out a client's patience: they run side by side,
// each cleaning up with its own context's onTestFinished.
async function loggedIn(onTestFinished: OnFinished): Promise<{ idp: Idp; home: Home; pid: number }> {
  const idp = await startIdp({ accessTokenTtl: 600 });
  const home = new Home();
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme', store: 'file' });
  await home.login();
  const pid = home.daemonPid()!;
  onTestFinished(async () => {
    for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
    }
    await home.dispose();
    await idp.close();
  });
  return { idp, home, pid };
}


function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);
}

test.concurrent('with the daemon stopped (SIGSTOP), get-token exits 5 saying it is not answering and how to replace it, instead of hanging', async ({ onTestFinished }) => {
  const { home, pid } = await loggedIn(onTestFinished);
  process.kill(pid, 'SIGSTOP');
  const started = Date.now();
  const r = await home.run(['get-token'], { env: PATIENCE, timeoutMs: 15_000 });
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^authd: the daemon at \S+authd\.sock is not answering\n {2}stop it with `authd daemon stop --force`/);
  expect(r.code).toBe(5);
  expect(Date.now() - started).toBeLessThan(8000);

  // The same for the other ways in, all at once (each waits out its own patience): git's helper, the
  // SDK, `daemon status` and a plain `daemon stop`.
  const sdk = new AuthdClient({ env: { ...home.env, ...PATIENCE } });
  const [git, sdkSaid, status, stop] = await Promise.all([
    home.run(['git-credential', 'get'], { env: PATIENCE, input: 'protocol=https\nhost=example.com\n\n', timeoutMs: 15_000 }),
    within(10_000, sdk.getToken()).then(() => undefined, (err: unknown) => err),
    home.run(['daemon', 'status'], { env: PATIENCE, timeoutMs: 15_000 }),
    home.run(['daemon', 'stop'], { env: PATIENCE, timeoutMs: 15_000 }),
  ]);
  sdk.close();
  expect(git.code).toBe(5);
  expect(git.stderr).toContain('is not answering');
  expect(sdkSaid).toMatchObject({ code: 'daemon_unreachable', message: expect.stringContaining('is not answering') });
  expect(status.stdout).toMatch(/^not answering/);
  expect(status.code).toBe(5);
  expect(stop.stderr).toContain('authd daemon stop --force');
  expect(stop.code).toBe(5);
});

test.concurrent('`authd daemon stop --force` kills a daemon that does not answer, and the next command gets a token from a new one, still logged in', async ({ onTestFinished }) => {
  const { idp, home, pid } = await loggedIn(onTestFinished);
  process.kill(pid, 'SIGSTOP');
  const r = await home.run(['daemon', 'stop', '--force'], { timeoutMs: 15_000 });
  expect(r.stderr).toBe(`authd daemon killed (pid ${pid}): it was not answering; the next command starts a new one\n`);
  expect(r.code).toBe(0);
  expect(isGone(pid)).toBe(true);
  expect(existsSync(home.socket)).toBe(false);

  const t = await home.run(['get-token']);
  expect(t.stderr).toBe('');
  expect(t.code).toBe(0);
  expect((await idp.introspect(t.stdout.trim())).active).toBe(true);
  expect(home.daemonPid()).not.toBe(pid);
  expect(idp.stats.deviceGrants).toBe(1);
  expect(idp.stats.reuseDetected).toBe(0);
});

test.concurrent('`authd daemon stop --force` stops a daemon that answers the ordinary way, and says so when none runs', async ({ onTestFinished }) => {
  const { home, pid } = await loggedIn(onTestFinished);
  const r = await home.run(['daemon', 'stop', '--force']);
  expect(r.stderr).toBe(`authd daemon stopped (pid ${pid})\n`);
  expect(home.logText()).toContain('"why":"shutdown request"');
  const again = await home.run(['daemon', 'stop', '--force']);
  expect(again.stderr).toMatch(/^authd daemon is not running/);
  expect(again.code).toBe(0);
});

test.concurrent('a daemon that is slow because the provider is slow is not mistaken for one that does not answer', async ({ onTestFinished }) => {
  const idp = await startIdp();
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'SVC_SECRET' } });
  const provider = new ProviderBehaviour(idp);
  const hold = new Hold();
  provider.set('token', hold.behaviour, 1);
  const started = Date.now();
  const r = home.run(['get-token', '-p', 'ci'], { env: { ...PATIENCE, SVC_SECRET: 'svc-secret' } });
  await hold.arrived();
  // Three times the client's patience: it asks the daemon whether it is alive, and the daemon says so.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  hold.release();
  const done = await r;
  expect(done.stderr).toBe('');
  expect(done.code).toBe(0);
  expect(Date.now() - started).toBeGreaterThan(3000);
  expect((await idp.introspect(done.stdout.trim())).active).toBe(true);
});

test.concurrent('a patience beyond what a timer can hold (AUTHD_NOT_ANSWERING_MS=1e10) is patience, not a Node warning and no patience at all', async ({ onTestFinished }) => {
  const { home } = await loggedIn(onTestFinished);
  for (const args of [['status'], ['get-token']]) {
    for (const native of ['0', '']) {
      const r = await home.run(args, { env: { AUTHD_NOT_ANSWERING_MS: '1e10', AUTHD_NATIVE: native } });
      expect(r.code, `${args} ${native}`).toBe(0);
      expect(r.stderr, `${args} ${native}`).toBe('');
    }
  }
});
