// Builds dist/peercred.node (src/native/peercred.c) with the system C compiler and the headers of the
// Node that runs this script, and dist/authd-native (src/native/authd-client.c: the fast path of
// `authd get-token`, which bin/authd runs when it is there; libc only, no headers but the system's). Best effort: without a compiler or headers authd still works, with the
// socket directory's permissions as its only boundary (`authd doctor` says so). Nothing is downloaded.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where Node's headers may be: npm's nodedir, beside this Node (official tarballs, nvm, NodeSource), the distribution's. */
export function nodeIncludeDir() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(dirname(process.execPath)), 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

/** Returns undefined when built, else why not. */
export function buildNative(out = join(root, 'dist', 'peercred.node')) {
  if (process.platform === 'win32') return 'Windows has no Unix-socket peer credentials';
  rmSync(out, { force: true }); // never leave a stale addon that no longer matches its source
  const include = nodeIncludeDir();
  if (!include) return "Node's headers (node_api.h) were not found";
  const tmp = `${out}.${process.pid}.tmp`;
  const link = process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : ['-shared'];
  const args = ['-O2', '-Wall', '-Wextra', '-fPIC', '-fvisibility=hidden', ...link, `-I${include}`, join(root, 'src/native/peercred.c'), '-o', tmp];
  mkdirSync(dirname(out), { recursive: true });
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter((c) => c && /^[\w./+-]+$/.test(c))) {
    try {
      execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      if (err.code === 'ENOENT') continue;
      rmSync(tmp, { force: true });
      return `${cc} failed: ${String(err.stderr ?? err.message).trim().split('\n')[0]}`;
    }
    if (!loads(tmp)) {
      rmSync(tmp, { force: true });
      return 'the built addon does not load';
    }
    renameSync(tmp, out);
    return undefined;
  }
  return 'no C compiler was found (cc, gcc, clang)';
}

/** The flags the native client is built with (issue 13): it is new code on the trust boundary. */
export const CLIENT_CFLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-fstack-protector-strong', '-U_FORTIFY_SOURCE', '-D_FORTIFY_SOURCE=2', '-O2'];

/**
 * Builds dist/authd-native. Returns undefined when built, else why not; never throws: without it
 * bin/authd runs the Node client, as before. A binary that does not run here (one shipped from
 * another machine, a failed build) is removed.
 */
export function buildClient(out = join(root, 'dist', 'authd-native')) {
  rmSync(out, { force: true });
  if (process.platform !== 'linux') return 'the native client is built on Linux only for now';
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [...CLIENT_CFLAGS, `-DAUTHD_VERSION="${version}"`, join(root, 'src/native/authd-client.c'), '-o', tmp];
  mkdirSync(dirname(out), { recursive: true });
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang'].filter((c) => c && /^[\w./+-]+$/.test(c))) {
    try {
      execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err.code === 'ENOENT') continue;
      return `${cc} failed: ${String(err.stderr ?? err.message).trim().split('\n')[0]}`;
    }
    try {
      const said = execFileSync(tmp, [], { env: { AUTHD_NATIVE: 'probe' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (said !== `authd-native ${version}\n`) throw new Error(said);
    } catch {
      rmSync(tmp, { force: true });
      return 'the built native client does not run';
    }
    renameSync(tmp, out);
    return undefined;
  }
  return 'no C compiler was found (cc, gcc, clang)';
}

/** True when `file` is a loadable build of this addon. */
function loads(file) {
  try {
    const m = { exports: {} };
    process.dlopen(m, file);
    return typeof m.exports.peerCred === 'function' && typeof m.exports.harden === 'function';
  } catch {
    return false;
  }
}

// `--if-needed` (npm's install step): keep an addon that loads here, e.g. the one in a package built on this platform.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(root, 'dist', 'peercred.node');
  // The native client is always rebuilt (0.2 s): it must match this package's dist/authd.cjs and this machine.
  const slow = buildClient();
  if (slow && process.platform === 'linux') process.stderr.write(`authd: built without the native get-token client: ${slow}; authd works, starting Node for every command\n`);
  if (process.argv.includes('--if-needed') && loads(out)) process.exit(0);
  const why = buildNative(out);
  if (why) process.stderr.write(`authd: built without peer-credential checks: ${why}; install a C compiler and Node's headers, then rebuild authd\n`);
}
