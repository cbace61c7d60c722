// --min-ttl: a caller that needs the token to live N more seconds gets one that does.
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import * as provider from '../src/daemon/idp.js';
import type { ProfileConfig } from '../src/daemon/config/index.js';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home, sleep } from './support/harness.js';

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 10 });
  home = new Home();
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  await home.login();
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

async function token(args: string[] = []): Promise<{ access_token: string; expires_at: number }> {
  const r = await home.run(['get-token', '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { access_token: string; expires_at: number };
}

test('--min-ttl one second under the lifetime the provider stated gets a token that lives that long', async () => {
  const first = await token();
  await sleep(2500);
  const before = idp.stats.refreshes;
  // The provider said 10 s. 9 s is less than that: not "more than the whole lifetime", not halved.
  const second = await token(['--min-ttl', '9']);
  expect(second.access_token).not.toBe(first.access_token);
  expect(idp.stats.refreshes - before).toBe(1);
  expect(second.expires_at - Date.now() / 1000).toBeGreaterThan(7);
});

test('--min-ttl equal to the whole lifetime is served half of it, not a refresh per call', async () => {
  await token();
  const before = idp.stats.refreshes;
  for (let i = 0; i < 4; i++) await token(['--min-ttl', '10']);
  expect(idp.stats.refreshes - before).toBeLessThanOrEqual(1);
});

test('the lifetime is the one the provider stated, however long parsing its answer took', async () => {
  const p: ProfileConfig = {
    name: 'ci', issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: [], git_hosts: [], git_username: 'oauth2', git_auth: 'basic' as const,
    client_auth: 'client_secret_basic', timeout: 10, refresh_ahead: false,
  };
  // Every look at the clock is a few ms later, as on a loaded machine.
  let t = Date.now();
  const now = vi.spyOn(Date, 'now').mockImplementation(() => (t += 7));
  try {
    const set = await provider.clientCredentials(p, { secret: 'svc-secret' });
    expect(set.lifetime).toBe(10);
  } finally {
    now.mockRestore();
  }
});
