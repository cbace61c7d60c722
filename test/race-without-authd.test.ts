// Why authd exists. Providers that rotate refresh tokens treat a second use of the same
// refresh token as theft and revoke the whole grant. Several CLIs that each refresh the one
// stored refresh token on their own therefore log the user out: even the CLI that "won" holds a
// dead token. No authd code is involved here; this is the baseline authd fixes.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceCode, type Idp, startIdp } from '../scripts/dev-idp.mjs';

const CLIS = 10;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Outcome {
  ok: boolean;
  error?: string;
}

let idp: Idp;
let dir: string;

beforeAll(async () => {
  idp = await startIdp();
  dir = await mkdtemp(join(tmpdir(), 'authd-race-'));
});
afterAll(async () => {
  await idp?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function naiveCli(tokenFile: string) {
  const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'naive-cli.mjs')], {
    cwd: repoRoot,
    env: { ...process.env, ISSUER: idp.issuer, TOKEN_FILE: tokenFile }, // tokens never go on argv
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const ready = new Promise<void>((resolve) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('ready\n')) resolve();
    });
  });
  const outcome = once(child, 'exit').then(() => JSON.parse(out.slice('ready\n'.length)) as Outcome);
  return { child, ready, outcome };
}

const go = (child: ChildProcess) => child.stdin!.end('go\n');

it(`${CLIS} CLIs refreshing one stored refresh token on their own lose the session`, async () => {
  const cli = await client.discovery(new URL(idp.issuer), 'authd-cli', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
    timeout: 5,
  });
  const da = await client.initiateDeviceAuthorization(cli, { scope: 'openid offline_access' });
  const login = client.pollDeviceAuthorizationGrant(cli, { ...da, interval: 0.1 });
  await approveDeviceCode(da.verification_uri_complete!);
  const tokenFile = join(dir, 'tokens.json');
  await writeFile(tokenFile, JSON.stringify({ refresh_token: (await login).refresh_token }), { mode: 0o600 });

  const clis = Array.from({ length: CLIS }, () => naiveCli(tokenFile));
  await Promise.all(clis.map((c) => c.ready));
  for (const c of clis) go(c.child);
  const outcomes = await Promise.all(clis.map((c) => c.outcome));

  // The first refresh to arrive wins; the next one presents the already rotated token.
  expect(idp.stats.reuseDetected).toBeGreaterThanOrEqual(1);
  expect(idp.stats.revokedGrants).toBeGreaterThanOrEqual(1);
  expect(outcomes.filter((o) => o.ok).length).toBeGreaterThanOrEqual(1);
  const failures = outcomes.filter((o) => !o.ok);
  expect(failures.length).toBeGreaterThanOrEqual(1);
  for (const f of failures) expect(f.error).toBe('invalid_grant');

  // Whatever ended up in the file (the winner's new token or the original), it is dead now.
  const { refresh_token } = JSON.parse(await readFile(tokenFile, 'utf8')) as { refresh_token: string };
  await expect(client.refreshTokenGrant(cli, refresh_token)).rejects.toMatchObject({ error: 'invalid_grant' });
}, 30_000);
