// Builds the client as one CommonJS file (fast start: no module resolution, no ESM loader)
// and the daemon as its own ESM entry that loads its dependencies from node_modules.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildClient, buildNative } from './build-native.mjs';
import { makeCodeCache } from './code-cache.mjs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  define: { AUTHD_VERSION: JSON.stringify(version) },
  legalComments: 'none',
  logLevel: 'warning',
};

// A code cache left from an earlier build goes first: V8 checks a cache against its source's length
// only, so one must never sit beside a bundle it was not made from (made again below).
rmSync(new URL('../dist/get-token-fast.cache', import.meta.url), { force: true });

await Promise.all([
  // uqr (QR codes for `login` on a terminal) stays outside the bundle: loaded only when drawn; so does
  // smol-toml, read only when a daemon asks for a client secret from the environment (client/trust.ts).
  // Whitespace and syntax minified (names kept, for readable stacks): less for V8 to parse at each start.
  // dist/get-token.cjs: the same client with get-token alone; dist/get-token-fast.cjs: its fast path, which
  // bin/authd starts for `authd get-token` through dist/get-token-start.cjs (with the code cache, below);
  // dist/git-credential.cjs: with git-credential alone, the one bin/git-credential-authd starts.
  ...[['src/client/main.ts', 'dist/authd.cjs'], ['src/client/get-token-main.ts', 'dist/get-token.cjs'], ['src/client/get-token-fast.ts', 'dist/get-token-fast.cjs'],
    ['src/client/get-token-start.ts', 'dist/get-token-start.cjs'],
    ['src/client/git-credential-main.ts', 'dist/git-credential.cjs']].map(([entry, outfile]) => build({
    ...common,
    entryPoints: [entry],
    outfile,
    format: 'cjs',
    external: ['uqr', 'smol-toml'],
    minifyWhitespace: true,
    minifySyntax: true,
  })),
  build({ ...common, entryPoints: ['src/client/sdk.ts'], outfile: 'dist/sdk.cjs', format: 'cjs', external: ['smol-toml'] }),
  build({
    ...common,
    entryPoints: ['src/daemon/main.ts'],
    outfile: 'dist/daemon.mjs',
    format: 'esm',
    packages: 'external',
  }),
]);

// The peer-credential addon beside the bundles (dist/peercred.node); without it authd runs with
// directory checks only, and says so.
const why = buildNative();
if (why) process.stderr.write(`authd: built without peer-credential checks: ${why}; install a C compiler and Node's headers, then rebuild\n`);

// The native fast path of `authd get-token` (dist/authd-native); without it bin/authd starts Node.
const slow = buildClient();
if (slow && process.platform === 'linux') process.stderr.write(`authd: built without the native get-token client: ${slow}; authd works, starting Node for every command\n`);

// The V8 code cache of get-token's Node fast path (dist/get-token-fast.cache), made by running it once.
const uncached = await makeCodeCache(fileURLToPath(new URL('../dist/', import.meta.url)));
if (uncached) process.stderr.write(`authd: built without a code cache for get-token on Node: ${uncached}; authd works, compiling it at each start\n`);
