// The refresh core's narrower tokens in-process (the seeded schedules cover the interleavings; these
// are the cases found by review): a caller waiting on a slow provider is never handed a narrower token
// of a session that ended meanwhile; a provider that ignores the narrower scopes is not believed.
import { expect, test } from 'vitest';
import { systemClock } from '../src/daemon/clock.js';
import type { ProfileConfig } from '../src/daemon/config/index.js';
import type * as idp from '../src/daemon/idp.js';
import type { Logger } from '../src/daemon/log.js';
import { TokenLifecycle } from '../src/daemon/refresh.js';
import type { SecretSource } from '../src/daemon/secrets.js';
import { createMemoryStore } from '../src/daemon/store/memory.js';
import type { SubjectTokens } from '../src/daemon/subject-token.js';

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined, unredacted: () => silent };
const profile = { name: 'acme', flow: 'device', issuer: 'https://idp.test', client_id: 'c', timeout: 1, refresh_ahead: false, scopes: ['openid', 'a', 'b'],
  git_hosts: [], git_username: 'oauth2', git_auth: 'basic', client_auth: 'client_secret_basic' } as ProfileConfig;

async function lifecycle(refresh: idp.Provider['refresh']) {
  const store = createMemoryStore();
  await store.put('acme', { v: 1, issuer: 'https://idp.test', client_id: 'c', refresh_token: 'rt-0' });
  const provider = { refresh, revoke: async () => true } as unknown as idp.Provider;
  return new TokenLifecycle(() => profile, { store, log: silent, provider, clock: systemClock, secrets: {} as SecretSource, subjectTokens: {} as SubjectTokens });
}

/** A token with `ms` left of a 100 s lifetime. */
const set = (access: string, rt: string, ms: number, scope?: string): idp.TokenSet =>
  ({ access_token: access, token_type: 'Bearer', expires_at: Date.now() + ms, lifetime: 100, refresh_token: rt, ...(scope ? { scope } : {}) });

test('a narrower token of a session logged out while its refresh waits on a slow provider is not handed out', async () => {
  let n = 0;
  const lc = await lifecycle(async () => {
    n++;
    if (n === 1) return set('narrow-1', 'rt-1', 40_000);
    await new Promise((r) => setTimeout(r, 2500)); // past the profile's 1 s timeout
    return set('narrow-2', 'rt-2', 100_000);
  });
  expect((await lc.getNarrowed(undefined, { scopes: ['a'] })).access_token).toBe('narrow-1');
  // 40 s left, 60 s asked for: a refresh, which the provider is slow to answer.
  const waiting = lc.getNarrowed(60, { scopes: ['a'] }).then((t) => t.access_token, (e: { code: string }) => e.code);
  setTimeout(() => lc.forget(), 200); // authd logout
  expect(await waiting).not.toBe('narrow-1');
  expect(await waiting).not.toBe('narrow-2');
});

test('a provider that answers a narrower request with wider scopes is not believed; the session keeps its rotated token', async () => {
  const seen: string[] = [];
  const lc = await lifecycle(async (_p, rt) => {
    seen.push(rt);
    return set(`at-${seen.length}`, `rt-${seen.length}`, 100_000, 'openid a b');
  });
  await expect(lc.getNarrowed(undefined, { scopes: ['a'] })).rejects.toMatchObject({ code: 'idp_error', message: expect.stringContaining('for scopes a with a token for openid b too') });
  expect((await lc.get(undefined)).access_token).toBe('at-2');
  expect(seen).toEqual(['rt-0', 'rt-1']);
});
