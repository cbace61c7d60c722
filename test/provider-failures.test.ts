// What a user sees when the provider fails in the ways real providers (and the proxies in front of
// them) do: 5xx pages, 429 with Retry-After, errors with empty bodies, strict Basic decoding, refused
// revocation, hangs and resets, and hostile answers. The real provider, the real authd binary; the
// odd answers come from test/support/provider-behaviour.ts in front of the provider.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import type { Idp, StartIdpOptions } from '../scripts/dev-idp.mjs';
import { devProfile, findLeaks, type Home, type ProfileSpec, type Result, sleep } from './support/harness.js';
import {
  answer, type Behaviour, emptyBody, hang, htmlPage, json, type OnFinished, providerAndHome, type ProviderFixture, refusePublicClients, reset,
  strictBasic,
} from './support/provider-behaviour.js';

const SECRET = 'svc-secret';
const withSecret = { env: { SVC_SECRET: SECRET } };

// Every test has a provider and a home of its own, and mostly waits (for a token to expire, for a
// back-off to pass): they run side by side, each cleaning up with its own context's onTestFinished.
const setup = (opts: StartIdpOptions, profiles: (idp: Idp) => Record<string, ProfileSpec>, finished: OnFinished): Promise<ProviderFixture> =>
  providerAndHome(opts, profiles, {}, finished);

function ciProfile(idp: Idp, extra: ProfileSpec = {}): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'SVC_SECRET', ...extra };
}

async function tokenJson(home: Home, args: string[] = []): Promise<{ access_token: string; expires_at: number }> {
  const r = await home.run(['get-token', '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { access_token: string; expires_at: number };
}

async function loggedIn(home: Home, profile: string): Promise<boolean> {
  const r = await home.run(['status', '--json']);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as { profiles: { profile: string; logged_in: boolean }[] };
  return s.profiles.find((p) => p.profile === profile)!.logged_in;
}

/** Runs the command until it exits 0 or 10 s have passed; returns the last result. */
async function untilItWorks(home: Home, args: string[], opts: { env?: Record<string, string> } = {}): Promise<Result> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await home.run(args, opts);
    if (r.code === 0 || Date.now() > deadline) return r;
    await sleep(200);
  }
}

async function sleepUntil(ms: number): Promise<void> {
  const d = ms - Date.now();
  if (d > 0) await sleep(d);
}

/** One error sentence plus at most one line saying what to do; no stack, no control characters. */
function expectCleanError(r: Result): void {
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^authd: \S/);
  expect(lines.length).toBeLessThanOrEqual(2);
  for (const line of lines) expect(line.length).toBeLessThan(400);
  expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
  expect(r.stderr).not.toMatch(/\n\s+at \S/);
  expect(r.stderr).not.toMatch(/Error:|TypeError|undefined/);
}

const serviceUnavailable: [string, Behaviour][] = [
  ['an HTML page from a reverse proxy', htmlPage(503)],
  ['JSON', json(503, { message: 'Service Unavailable' })],
];

for (const [what, behaviour] of serviceUnavailable) {
  test.concurrent(`while the token endpoint answers 503 with ${what}, a still-valid token is served; once it expires get-token exits 4 naming HTTP 503 and the endpoint; then it recovers by itself`, async ({ onTestFinished }) => {
    // 6 s tokens, refreshed when under 4 s are left: a token can be due for refresh yet still valid.
    const { idp, provider, home } = await setup({ accessTokenTtl: 6 }, (i) => ({ acme: devProfile(i, { min_ttl: 4, refresh_ahead: false }) }), onTestFinished);
    await home.login('acme');
    const first = await tokenJson(home);
    const before = provider.seen.token; // the login's polls
    provider.set('token', behaviour);

    await sleepUntil(first.expires_at * 1000 - 2000);
    const served = await home.run(['get-token']);
    expect(served.stderr).toBe('');
    expect(served.code).toBe(0);
    expect(served.stdout.trim()).toBe(first.access_token);
    expect(provider.seen.token).toBe(before + 1);

    await sleepUntil(first.expires_at * 1000 + 1100);
    const down = await home.run(['get-token']);
    expect(down.code).toBe(4);
    expectCleanError(down);
    expect(down.stderr).toContain(`HTTP 503 from ${idp.issuer}/token`);
    expect(down.stderr).toContain('refresh request');

    provider.normal();
    const back = await untilItWorks(home, ['get-token']);
    expect(back.code).toBe(0);
    expect(back.stdout.trim()).not.toBe(first.access_token);
    expect((await idp.introspect(back.stdout.trim())).active).toBe(true);
    expect(idp.stats.reuseDetected).toBe(0);
    expect(findLeaks(idp, { stderr: home.stderrs.join('\n'), log: home.stateFilesText() })).toEqual([]);
  });
}

test.concurrent('six get-token calls while the provider answers 503 with Retry-After send one request to it, and each exits 4', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
  provider.set('token', htmlPage(503, { 'retry-after': '30' }));
  for (let i = 0; i < 6; i++) {
    const r = await home.run(['get-token', '-p', 'ci'], withSecret);
    expect(r.code).toBe(4);
    expectCleanError(r);
    expect(r.stderr).toContain(`HTTP 503 from ${idp.issuer}/token`);
    expect(r.stderr).toMatch(/wait \d+ s/);
  }
  expect(provider.seen.token).toBe(1);
});

test.concurrent('after a 429 with Retry-After: 2 no request reaches the provider for 2 s, and then the token comes', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
  provider.set('token', json(429, { error: 'rate_limited' }, { 'retry-after': '2' }), 1);
  const limited = await home.run(['get-token', '-p', 'ci'], withSecret);
  expect(limited.code).toBe(4);
  expectCleanError(limited);
  expect(limited.stderr).toContain(`HTTP 429 rate_limited from ${idp.issuer}/token`);

  let calls = 1;
  let r: Result;
  const deadline = Date.now() + 10_000;
  do {
    r = await home.run(['get-token', '-p', 'ci'], withSecret);
    calls++;
  } while (r.code !== 0 && Date.now() < deadline);
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).active).toBe(true);
  const [firstAsk, secondAsk, ...more] = provider.requests.filter((q) => q.endpoint === 'token');
  expect(more).toEqual([]);
  expect(secondAsk!.at - firstAsk!.at).toBeGreaterThanOrEqual(1950);
  expect(calls).toBeGreaterThan(2);
});

for (const status of [400, 401]) {
  test.concurrent(`a refresh answered with HTTP ${status} and an empty body ends the session: exit 3 with the login hint, status says logged out, and the dead refresh token is not sent again`, async ({ onTestFinished }) => {
    const { idp, provider, home } = await setup({ accessTokenTtl: 3 }, (i) => ({ acme: devProfile(i, { refresh_ahead: false }) }), onTestFinished);
    await home.login('acme');
    const first = await tokenJson(home);
    const before = provider.seen.token; // the login's polls
    provider.set('token', emptyBody(status));

    await sleepUntil(first.expires_at * 1000 + 1100);
    const dead = await home.run(['get-token']);
    expect(dead.code).toBe(3);
    expectCleanError(dead);
    expect(dead.stderr).toContain(`HTTP ${status} from ${idp.issuer}/token`);
    expect(dead.stderr).toContain('run `authd login -p acme`');
    const asked = provider.seen.token;
    expect(asked).toBe(before + 1);

    expect(await loggedIn(home, 'acme')).toBe(false);
    expect(home.storedSession('acme')).toBeUndefined();
    const again = await home.run(['get-token']);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('run `authd login -p acme`');
    expect(provider.seen.token).toBe(asked);
  });
}

test.concurrent('a refresh refused with invalid_client is the client being refused, not the session: exit 1, and the session is kept', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({ accessTokenTtl: 3 }, (i) => ({ acme: devProfile(i, { refresh_ahead: false }) }), onTestFinished);
  await home.login('acme');
  const first = await tokenJson(home);
  provider.set('token', json(401, { error: 'invalid_client', error_description: 'client is disabled' }), 1);

  await sleepUntil(first.expires_at * 1000 + 1100);
  const refused = await home.run(['get-token']);
  expect(refused.code).toBe(1);
  expectCleanError(refused);
  expect(refused.stderr).toContain(
    `the provider refused client authd-cli of profile acme for the refresh request (HTTP 401 invalid_client from ${idp.issuer}/token: client is disabled)`);
  expect(await loggedIn(home, 'acme')).toBe(true);

  // The client is let in again: the same session goes on.
  const next = await home.run(['get-token']);
  expect(next.code).toBe(0);
  expect((await idp.introspect(next.stdout.trim())).active).toBe(true);
  expect(idp.stats.deviceGrants).toBe(1);
});

test.concurrent('client build-bot, with dashes in its id and secret, gets a token from a provider that decodes Basic credentials as RFC 6749 says', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({
    bot: { issuer: i.issuer, client_id: 'build-bot', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'BOT_SECRET' },
  }), onTestFinished);
  provider.set('token', strictBasic);
  const r = await home.run(['get-token', '-p', 'bot'], { env: { BOT_SECRET: 'bot-secret-123' } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(await idp.introspect(r.stdout.trim())).toMatchObject({ active: true, client_id: 'build-bot' });
  const [asked] = provider.requests.filter((q) => q.endpoint === 'token');
  expect(asked!.authorization).toBe(`Basic ${Buffer.from('build-bot:bot-secret-123').toString('base64')}`);
});

for (const status of [401, 403]) {
  test.concurrent(`HTTP ${status} with an empty body to a client credentials request says the provider refused the client credentials of profile ci, and the secret is asked for again`, async ({ onTestFinished }) => {
    const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
    provider.set('token', emptyBody(status));
    const r = await home.run(['get-token', '-p', 'ci'], withSecret);
    expect(r.code).toBe(1);
    expectCleanError(r);
    const [message, hint] = r.stderr.trimEnd().split('\n');
    expect(message).toBe(`authd: the provider refused the client credentials of profile ci (HTTP ${status} from ${idp.issuer}/token)`);
    expect(hint).toContain('$SVC_SECRET');

    // The refused secret is forgotten: the next caller must bring one.
    provider.normal();
    const without = await home.run(['get-token', '-p', 'ci']);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('SVC_SECRET');
    expect(home.stderrs.join('\n')).not.toContain(SECRET);
  });
}

test.concurrent('a service profile keeps its secret through a 503 outage, so logout afterwards still revokes its token', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({ accessTokenTtl: 2 }, (i) => ({ ci: ciProfile(i, { refresh_ahead: false }) }), onTestFinished);
  const first = await home.run(['get-token', '-p', 'ci', '--format', 'json'], withSecret);
  expect(first.code).toBe(0);
  const token = (JSON.parse(first.stdout) as { access_token: string; expires_at: number });
  provider.set('token', json(503, { message: 'Service Unavailable' }));

  await sleepUntil(token.expires_at * 1000 + 1100);
  const down = await home.run(['get-token', '-p', 'ci']);
  expect(down.code).toBe(4);
  expectCleanError(down);

  const out = await home.run(['logout', '-p', 'ci']);
  expect(out.code).toBe(0);
  expect(out.stderr).toContain('revoked at the provider');
  expect(provider.seen.revocation).toBe(1);
  expect((await idp.introspect(token.access_token)).active).toBe(false);
});

test.concurrent('logout, when the provider does not let public clients revoke, says so with the status and endpoint and still forgets the session here', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  await home.login('acme');
  provider.set('revocation', refusePublicClients);

  const out = await home.run(['logout', '-p', 'acme']);
  expect(out.code).toBe(0);
  expect(out.stdout).toBe('');
  expect(out.stderr).toMatch(/Logged out of acme\n/);
  expect(out.stderr).not.toContain('revoked at the provider');
  expect(out.stderr).toContain(`HTTP 401 from ${idp.issuer}/token/revocation`);
  expect(out.stderr).toContain('does not let public clients revoke');
  expect(provider.seen.revocation).toBe(1);
  expect(home.storedSession('acme')).toBeUndefined();
  expect((await home.run(['get-token'])).code).toBe(3);
  expect(findLeaks(idp, { stderr: home.stderrs.join('\n'), log: home.stateFilesText() })).toEqual([]);
});

test.concurrent('when discovery fails with 503, get-token exits 4 naming the discovery document; it works once the provider is back', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
  provider.set('discovery', htmlPage(503));
  const r = await home.run(['get-token', '-p', 'ci'], withSecret);
  expect(r.code).toBe(4);
  expectCleanError(r);
  expect(r.stderr).toContain(`HTTP 503 from ${idp.issuer}/.well-known/openid-configuration`);
  provider.normal();
  expect((await untilItWorks(home, ['get-token', '-p', 'ci'], withSecret)).code).toBe(0);
});

test.concurrent('a token endpoint that never answers: get-token exits 4 after the profile timeout, naming the endpoint', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i, { timeout: 1 }) }), onTestFinished);
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  provider.set('token', hang);
  const started = Date.now();
  const r = await home.run(['get-token', '-p', 'ci'], withSecret);
  expect(Date.now() - started).toBeLessThan(5000);
  expect(r.code).toBe(4);
  expectCleanError(r);
  expect(r.stderr).toContain(`did not answer the client credentials request to ${idp.issuer}/token within 1 s`);
});

test.concurrent('a connection reset by the token endpoint: get-token exits 4 saying the connection broke', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
  provider.set('token', reset);
  const r = await home.run(['get-token', '-p', 'ci'], withSecret);
  expect(r.code).toBe(4);
  expectCleanError(r);
  expect(r.stderr).toContain(`the connection to the provider broke during the client credentials request to ${idp.issuer}/token`);
});

test.concurrent('a device login goes on through a provider hiccup: two polls answered 502, then the approval logs in', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  provider.set('token', htmlPage(502), 2);
  const done = await home.login('acme');
  expect(done.subject).toBe('alice');
  expect(idp.stats.deviceGrants).toBe(1);
  expect((await home.run(['get-token'])).code).toBe(0);
});

test.concurrent('hostile answers (huge bodies, garbage JSON, control characters and echoed secrets in error texts) give one bounded line', async ({ onTestFinished }) => {
  // One profile per answer: after an unusable answer a profile backs off before it asks again.
  const { provider, home } = await setup({}, (i) => Object.fromEntries(Array.from({ length: 7 }, (_, n) => [`ci${n}`, ciProfile(i)])), onTestFinished);
  const huge = 'x'.repeat(5 << 20);
  const hostile: [string, Behaviour, RegExp][] = [
    ['a 5 MiB error page', answer(400, { 'content-type': 'text/html' }, huge), /HTTP 400 from .*more than 1 MiB/],
    ['a 5 MiB 200', answer(200, { 'content-type': 'application/json' }, `{"access_token":"${huge}"}`), /HTTP 200 from .*more than 1 MiB/],
    ['garbage JSON', answer(200, { 'content-type': 'application/json' }, '{"access_token": "abc", "token_type": '), /HTTP 200 from .*not a valid response/],
    ['HTML on 200', answer(200, { 'content-type': 'text/html' }, '<html>login here</html>'), /HTTP 200 from .*text\/html instead of JSON/],
    ['control characters and a secret in error_description', json(400, {
      error: 'invalid_scope',
      error_description: `bad scope\r\nX-Injected: yes\u001b[31m\u2028red ${SECRET} ${'A'.repeat(40)} ${'word '.repeat(500)}`,
    }), /HTTP 400 invalid_scope from \S+: bad scope X-Injected: yes \[31m red … … word/],
    ['a header injection as the error code', json(400, { error: 'invalid_scope\r\nX-Injected: yes' }), /HTTP 400 from /],
    ['a redirect', answer(302, { location: 'http://127.0.0.1:1/elsewhere' }), /HTTP 302 from .*a redirect/],
  ];
  for (const [n, [what, behaviour, says]] of hostile.entries()) {
    provider.set('token', behaviour, 1);
    const r = await home.run(['get-token', '-p', `ci${n}`], withSecret);
    expect(r.code, what).toBe(1);
    expectCleanError(r);
    expect(r.stderr, what).toMatch(says);
    expect(r.stderr, what).not.toContain(SECRET);
    expect(r.stderr, what).not.toContain('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(r.stderr, what).not.toContain('X-Injected: yes\n');
  }
});

test.concurrent('a 300 MB answer from the token endpoint is read no further than 1 MiB: exit 1 saying so, and the daemon stays small', async ({ onTestFinished }) => {
  const { provider, home } = await setup({}, (i) => ({ ci: ciProfile(i) }), onTestFinished);
  let sent = 0;
  const huge: Behaviour = (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"access_token":"');
    const chunk = Buffer.alloc(1 << 20, 'x');
    const pump = () => {
      while (sent < 300 << 20 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('","token_type":"Bearer"}');
    };
    res.on('error', () => undefined);
    pump();
    return true;
  };
  provider.set('token', huge, 1);
  const r = await home.run(['get-token', '-p', 'ci'], withSecret);
  expect(r.code).toBe(1);
  expectCleanError(r);
  expect(r.stderr).toMatch(/HTTP 200 from .*more than 1 MiB/);
  // The daemon hung up on it: the provider got nowhere near 300 MB out (socket buffers aside).
  expect(sent).toBeLessThan(64 << 20);
  const peakKb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${home.daemonPid()}/status`, 'utf8'))?.[1]);
  expect(peakKb).toBeLessThan(200 * 1024);
  // And it still serves: the next request is answered by the provider itself.
  expect((await untilItWorks(home, ['get-token', '-p', 'ci'], withSecret)).code).toBe(0);
});
