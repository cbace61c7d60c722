#!/usr/bin/env node
// `npm run demo`: the race authd prevents, side by side. A real local OpenID provider that rotates
// refresh tokens and ends the session when one is reused; the same twenty parallel callers, first
// each refreshing one shared refresh token on its own (the session is lost), then asking authd
// (one refresh, all served). Cleans up after itself.
//   npm run demo                  approves the logins headlessly
//   npm run demo -- --interactive prints authd's login URL for you to open and approve
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { approveDeviceCode, startIdp } from './dev-idp.mjs';

const CALLERS = 20;
// Seconds an access token lives: short, so that authd's expires during the demo, and long enough
// that the one refreshed token still has more than min_ttl (a quarter of it) left for the last of
// the callers, however busy the machine.
const TTL = 10;
const interactive = process.argv.includes('--interactive');
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const authd = join(repoRoot, 'bin', 'authd');

// Colour only for a person at a terminal who has not asked for none (https://no-color.org).
const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const red = paint('31;1');
const green = paint('32;1');
const say = (s = '') => process.stdout.write(`${s}\n`);
const heading = (s) => say(`\n${bold(`▸ ${s}`)}`);


const idp = await startIdp({ accessTokenTtl: TTL });
const home = mkdtempSync(join(tmpdir(), 'authd-demo.'));
const env = { ...process.env, AUTHD_HOME: home };
for (const k of Object.keys(env)) if (k.startsWith('AUTHD_') && k !== 'AUTHD_HOME') delete env[k];

const run = (args) =>
  new Promise((resolve) => {
    execFile(authd, args, { env, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
/** Refresh requests the provider answered since `mark` (idp.rotations.length then), refused ones included. */
const refreshesSince = (mark) => idp.rotations.slice(mark).filter((r) => r.grantType === 'refresh_token').length;
const accepted = async (token) => (await idp.introspect(token)).active === true;

/** Without authd: CALLERS programs refresh one saved refresh token at the same moment. */
async function withoutAuthd() {
  const cli = await client.discovery(new URL(idp.issuer), 'authd-cli', undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const da = await client.initiateDeviceAuthorization(cli, { scope: 'openid offline_access' });
  const login = client.pollDeviceAuthorizationGrant(cli, { ...da, interval: 0.1 });
  await approveDeviceCode(da.verification_uri_complete);
  const tokenFile = join(home, 'naive-cli-tokens.json');
  const { access_token, refresh_token } = await login;
  writeFileSync(tokenFile, JSON.stringify({ access_token, refresh_token }), { mode: 0o600 });

  const programs = Array.from({ length: CALLERS }, () => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'naive-cli.mjs')], {
      cwd: repoRoot, // so that the program finds openid-client
      env: { ...process.env, ISSUER: idp.issuer, TOKEN_FILE: tokenFile }, // paths, no tokens
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    const ready = (async () => {
      while (!out.startsWith('ready\n')) await once(child.stdout, 'data');
    })();
    const outcome = once(child, 'exit').then(() => JSON.parse(out.slice('ready\n'.length)));
    return { child, ready, outcome };
  });
  await Promise.all(programs.map((p) => p.ready));
  const mark = idp.rotations.length;
  for (const p of programs) p.child.stdin.end('go\n');
  const reuseBefore = idp.stats.reuseDetected;
  const outcomes = await Promise.all(programs.map((p) => p.outcome));
  // What the file holds now: the winner's new tokens (or, had none won, the original ones).
  const saved = Object.values(JSON.parse(readFileSync(tokenFile, 'utf8')));
  return {
    reused: idp.stats.reuseDetected > reuseBefore,
    served: outcomes.filter((o) => o.ok).length,
    refused: outcomes.filter((o) => !o.ok).length,
    errors: [...new Set(outcomes.filter((o) => !o.ok).map((o) => o.error))],
    refreshes: refreshesSince(mark),
    sessionKept: (await Promise.all(saved.map(accepted))).every(Boolean),
  };
}

/** authd logs in (device flow); resolves with when its access token expires (ms). */
async function authdLogin() {
  await new Promise((resolve, reject) => {
    const login = spawn(authd, interactive ? ['login'] : ['login', '--json'], {
      env,
      stdio: ['ignore', interactive ? 'inherit' : 'pipe', 'inherit'],
    });
    let buf = '';
    login.stdout?.setEncoding('utf8').on('data', async (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (ev.event === 'device_code') {
          say(`  authd login: one-time code ${ev.user_code}, approved for you at ${ev.verification_uri_complete}`);
          await approveDeviceCode(ev.verification_uri_complete);
        } else if (ev.event === 'logged_in') {
          say(`  Logged in as ${ev.subject}.`);
        }
      }
    });
    login.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`authd login exited ${c}`))));
  });
  const { expires_at } = JSON.parse((await run(['get-token', '--format', 'json'])).stdout);
  return (expires_at + 1) * 1000; // expires_at is in whole seconds, rounded down
}

/** With authd: CALLERS `authd get-token` at the same moment. */
async function withAuthd() {
  const reuseBefore = idp.stats.reuseDetected;
  const mark = idp.rotations.length;
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: CALLERS }, () => run(['get-token'])));
  const ms = Date.now() - t0;
  const tokens = new Set(results.filter((r) => r.code === 0).map((r) => r.stdout.trim()));
  return {
    served: results.filter((r) => r.code === 0).length,
    ms,
    distinct: tokens.size,
    refreshes: refreshesSince(mark),
    reused: idp.stats.reuseDetected > reuseBefore,
    sessionKept: tokens.size > 0 && (await Promise.all([...tokens].map(accepted))).every(Boolean),
  };
}

try {
  say(bold('authd demo: what happens when many programs need a fresh token at the same moment'));
  say(`A real OpenID provider is running at ${idp.issuer}. Like many providers, it rotates
refresh tokens: each refresh returns a new refresh token and retires the old one. A retired
refresh token that comes back looks stolen, so the provider ends the whole session.`);

  heading('authd logs in, in a throwaway home');
  say(`  ${home}`);
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
    '# Off for the demo, so that the callers meet a token that has really expired.',
    '# (On by default: authd refreshes a token in use shortly before it expires.)',
    'refresh_ahead = false',
    '',
  ].join('\n'));
  const expiry = await authdLogin();
  say(`  Its access token lives ${TTL} s: it expires while the next part runs.`);

  heading(`Without authd: ${CALLERS} programs share one saved refresh token`);
  say(`  A program logged in as alice and saved the refresh token in a file. Now ${CALLERS} programs
  (terminals, the steps of a parallel build) read it and refresh at the same moment, as CLIs
  do when they find the access token expired.`);
  const without = await withoutAuthd();
  say(`  ${without.served} of ${CALLERS} got new tokens; ${without.refused} were refused (${without.errors.join(', ') || 'no error'}).`);
  if (without.reused) say('  The provider saw the same refresh token twice, took it as stolen and ended the session.');
  say(
    without.sessionKept
      ? `  ${green('Session kept:')} the provider still accepts the session.`
      : `  ${red('Session lost:')} even the new tokens are refused now. The user has to log in again.`,
  );

  heading(`With authd: the same ${CALLERS} programs ask authd (\`authd get-token\`)`);
  const wait = Math.max(0, expiry - Date.now());
  say(wait > 0 ? `  Waiting ${(wait / 1000).toFixed(1)} s for authd's access token to expire…` : "  authd's access token has expired.");
  await new Promise((r) => setTimeout(r, wait));
  const wth = await withAuthd();
  say(`  ${wth.served} of ${CALLERS} got a token, in ${wth.ms} ms: ${wth.distinct === 1 ? 'the same one for all' : `${wth.distinct} different ones`}, from ${wth.refreshes} refresh${wth.refreshes === 1 ? '' : 'es'}.`);
  say(
    wth.sessionKept
      ? `  ${green('Session kept:')} the provider still accepts the session.`
      : `  ${red('Session lost:')} the provider no longer accepts the session.`,
  );

  heading('Side by side');
  const rows = [
    ['', 'without authd', 'with authd'],
    ['programs given a token', `${without.served} of ${CALLERS}${without.served && !without.sessionKept ? ', revoked since' : ''}`, `${wth.served} of ${CALLERS}`],
    ['refreshes sent to the provider', String(without.refreshes), String(wth.refreshes)],
    ['a refresh token used twice', without.reused ? 'yes' : 'no', wth.reused ? 'yes' : 'no'],
    ['the session afterwards', without.sessionKept ? 'kept' : 'lost: log in again', wth.sessionKept ? 'kept' : 'lost: log in again'],
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)) + 3);
  for (const r of rows) say(`  ${r[0].padEnd(widths[0])}${r[1].padEnd(widths[1])}${r[2]}`);

  heading('authd status');
  process.stdout.write((await run(['status'])).stdout);

  heading('authd logout');
  process.stdout.write((await run(['logout'])).stderr);

  say(`\nTry it by hand: node scripts/dev-idp.mjs (a local provider, and what to paste to log in to it).`);
  // The demo's claim, as an exit code: the race loses the session without authd, and authd prevents it.
  const shown = !without.sessionKept && wth.served === CALLERS && wth.refreshes === 1 && wth.sessionKept && !wth.reused;
  if (!shown) process.exitCode = 1;
} finally {
  await run(['daemon', 'stop']);
  await idp.close();
  rmSync(home, { recursive: true, force: true });
}
