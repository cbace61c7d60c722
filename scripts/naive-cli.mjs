// A CLI without authd, for the demo and test/race-without-authd.test.ts: reads the saved refresh
// token (TOKEN_FILE), says "ready", waits for "go" on stdin (so that every copy holds the same
// token), refreshes it at ISSUER as client authd-cli, and saves the new tokens. Prints its outcome
// as one JSON line; exits 1 when the provider refused.
import { readFileSync, writeFileSync } from 'node:fs';
import * as client from 'openid-client';

const { ISSUER, TOKEN_FILE } = process.env;
const cli = await client.discovery(new URL(ISSUER), 'authd-cli', undefined, client.None(), {
  execute: [client.allowInsecureRequests],
  timeout: 10,
});
const saved = JSON.parse(readFileSync(TOKEN_FILE, 'utf8'));
console.log('ready');
await new Promise((resolve) => process.stdin.once('data', resolve));
try {
  const t = await client.refreshTokenGrant(cli, saved.refresh_token);
  writeFileSync(TOKEN_FILE, JSON.stringify({ access_token: t.access_token, refresh_token: t.refresh_token }));
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.error ?? e.message }));
  process.exitCode = 1;
}
