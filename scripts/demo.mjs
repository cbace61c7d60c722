#!/usr/bin/env node
// `npm run demo`: a real local OpenID provider, an isolated authd, a device login, and twenty
// processes asking for a token the moment it expires. Cleans up after itself.
//   npm run demo                  auto-approves the login
//   npm run demo -- --interactive prints the URL for you to open and approve
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approveDeviceCode, startIdp } from './dev-idp.mjs';

const interactive = process.argv.includes('--interactive');
const authd = new URL('../bin/authd', import.meta.url).pathname;
const ttl = 4;
const idp = await startIdp({ accessTokenTtl: ttl });
const home = mkdtempSync(join(tmpdir(), 'authd-demo.'));
const env = { ...process.env, AUTHD_HOME: home };
for (const k of Object.keys(env)) if (k.startsWith('AUTHD_') && k !== 'AUTHD_HOME') delete env[k];

const say = (s) => process.stdout.write(`\x1b[1m▸ ${s}\x1b[0m\n`);
const run = (args) =>
  new Promise((resolve) => {
    execFile(authd, args, { env, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });

try {
  say(`Local identity provider at ${idp.issuer} (access tokens live ${ttl} s, refresh tokens rotate)`);
  writeFileSync(join(home, 'config.toml'), [
    'default_profile = "demo"',
    '# The demo home is thrown away afterwards; a real one keeps secrets in the OS keychain (store = "auto").',
    'store = "file"',
    '',
    '[profiles.demo]',
    `issuer = "${idp.issuer}"`,
    'client_id = "authd-cli"',
    'flow = "device"',
    'scopes = ["openid", "offline_access"]',
    'device_poll_interval = 0.5',
    '# Off for the demo, so the burst below meets a token that has really expired.',
    '# (On by default: authd refreshes a token in use shortly before it expires.)',
    'refresh_ahead = false',
    '',
  ].join('\n'));
  say(`Isolated authd home: ${home}`);

  say('authd login  (device flow)');
  await new Promise((resolve, reject) => {
    const login = spawn(authd, interactive ? ['login'] : ['login', '--json'], {
      env, stdio: ['ignore', interactive ? 'inherit' : 'pipe', 'inherit'],
    });
    let buf = '';
    login.stdout?.on('data', async (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (ev.event === 'device_code') {
          console.log(`  code ${ev.user_code}: approving it headlessly at ${ev.verification_uri_complete}`);
          await approveDeviceCode(ev.verification_uri_complete);
        } else if (ev.event === 'logged_in') {
          console.log(`  logged in to ${ev.profile} as ${ev.subject}`);
        }
      }
    });
    login.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`login exited ${c}`))));
  });

  const first = JSON.parse((await run(['get-token', '--format', 'json'])).stdout);
  const wait = first.expires_at * 1000 - Date.now() + 50;
  say(`Waiting ${(wait / 1000).toFixed(1)} s for the access token to expire…`);
  await new Promise((r) => setTimeout(r, wait));

  const before = idp.stats.refreshes;
  say('20 parallel `authd get-token` right after expiry');
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: 20 }, () => run(['get-token'])));
  const ok = results.filter((r) => r.code === 0).length;
  const distinct = new Set(results.map((r) => r.stdout.trim())).size;
  const active = (await idp.introspect(results[0].stdout.trim())).active;
  console.log(`  ${ok}/20 succeeded in ${Date.now() - t0} ms, ${distinct} distinct token(s), provider says active: ${active}`);
  console.log(`  refreshes the provider saw: ${idp.stats.refreshes - before}   refresh-token reuse detected: ${idp.stats.reuseDetected}`);

  say('authd status');
  process.stdout.write((await run(['status'])).stdout);

  say('authd logout');
  process.stderr.write((await run(['logout'])).stderr);
  if (ok !== 20 || idp.stats.reuseDetected !== 0) process.exitCode = 1;
} finally {
  await run(['daemon', 'stop']);
  await idp.close();
  rmSync(home, { recursive: true, force: true });
}
