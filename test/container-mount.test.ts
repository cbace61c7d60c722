// The container recipe (issue 14): the restricted socket's directory mounted into a container, with
// AUTHD_SOCKET naming the socket in it. No container runtime here: a process in a mount namespace of
// its own (unshare, as root) sees a fresh tmpfs with only that directory bind-mounted into it, and the
// full socket's directory hidden, as a container would.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, exitCode, Home, type Result, testEnv } from './support/harness.js';

let idp: Idp;
let home: Home;
let root: string;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 3600 });
  home = new Home('authd-ct.');
  home.writeConfig({ fwd: devProfile(idp, { forward: true }) }, { default_profile: 'fwd', store: 'file' });
  await home.login('fwd');
  root = mkdtempSync(join(tmpdir(), 'authd-container.'));
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** `script` run by sh in a new mount namespace, with the container's environment. */
function inNamespace(script: string, env: Record<string, string>): Promise<Result> {
  return new Promise((done) => {
    execFile('unshare', ['--mount', '--fork', '--propagation', 'private', 'sh', '-ec', script], { env: { ...testEnv(), ...env }, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => done({ code: exitCode(err), stdout, stderr }));
  });
}

test('a process that is given only the restricted socket\'s directory gets a token through it, and cannot reach the full socket', async () => {
  const restricted = (await home.run(['daemon', 'status', '--restricted-socket'])).stdout.trim();
  expect(dirname(restricted)).not.toBe(dirname(home.socket));
  const token = (await home.run(['get-token'])).stdout;
  // The container's view: a tmpfs at ROOT, the directory at ROOT/run/authd (its /run/authd), and the
  // host's socket directory covered. Its home is in the tmpfs: whatever authd wrote there would show.
  const script = `
    mount -t tmpfs tmpfs "$ROOT"
    mkdir -p "$ROOT/run/authd" "$ROOT/home"
    mount --bind "$RESTRICTED_DIR" "$ROOT/run/authd"
    mount -t tmpfs tmpfs "$FULL_DIR"
    echo "mounted: $(ls -A "$ROOT/run/authd")"
    if [ -e "$FULL" ]; then echo "full socket: visible"; else echo "full socket: not there"; fi
    ${AUTHD} get-token
    ${AUTHD} logout && echo "logout: done" || echo "logout: exit $?"
    echo "home: $(ls -A "$ROOT/home")"
  `;
  const r = await inNamespace(script, {
    ROOT: root, RESTRICTED_DIR: dirname(restricted), FULL_DIR: dirname(home.socket), FULL: home.socket,
    AUTHD_SOCKET: join(root, 'run/authd/authd.sock'),
    HOME: join(root, 'home'), XDG_STATE_HOME: join(root, 'home/state'), XDG_CONFIG_HOME: join(root, 'home/config'),
    XDG_RUNTIME_DIR: join(root, 'home/run'),
  });
  expect(r.stdout, r.stderr).toBe(`mounted: authd.sock\nfull socket: not there\n${token}logout: exit 2\nhome: \n`);
  expect(r.stderr).toContain('authd: authd logout is not available through a forwarded authd socket\n');
  expect(r.code).toBe(0);
  // The namespace is gone and took its mounts along; here the daemon still serves the same session.
  expect((await home.run(['get-token'])).stdout).toBe(token);
});
