// Which client answers `authd get-token` and git's `get` here: the native one (dist/authd-native,
// src/native/authd-client.c; bin/authd and bin/git-credential-authd run it when it is built), or
// Node. `authd doctor` says which, and why.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorCheck } from '../protocol/index.js';
import { VERSION } from '../protocol/version.js';

const FIX_BUILD = 'install a C compiler (Debian: `apt install gcc`), then install authd again; it builds the native client when it can';

/** The check, from the environment the launcher saw and the binary beside this client (dist/). */
export function nativeClientCheck(env: Record<string, string | undefined>, dir = __dirname): DoctorCheck {
  const name = 'fast path';
  const native = join(dir, 'authd-native');
  if (!existsSync(native)) {
    return { name, ok: false, warn: true, detail: `Node only: ${native} was not built, so get-token and git take a Node start (~30 ms) instead of ~2 ms`, fix: FIX_BUILD };
  }
  const said = spawnSync(native, [], { env: { AUTHD_NATIVE: 'probe' }, encoding: 'utf8', timeout: 5000 });
  const version = /^authd-native (\S+)\n$/.exec(said.stdout ?? '')?.[1];
  if (said.status !== 0 || !version) {
    return { name, ok: false, detail: `${native} does not run (${said.error?.message ?? `exit ${said.status ?? said.signal}`}), so get-token and git fail`,
      fix: `remove ${native} (authd then runs on Node), or ${FIX_BUILD}` };
  }
  if (version !== VERSION) {
    return { name, ok: false, warn: true, detail: `${native} is version ${version}, this client ${VERSION}: a build left from another version`, fix: FIX_BUILD };
  }
  if (env.AUTHD_NATIVE === '0') {
    return { name, ok: true, detail: `Node: AUTHD_NATIVE=0 is set, so the native client (${native}) is not used` };
  }
  return { name, ok: true, detail: `native: get-token and git's get answer in C (${native}); every other command runs on Node` };
}
