// What bin/authd starts for `authd get-token` on Node (dist/get-token-start.cjs): the fast path
// (dist/get-token-fast.cjs) compiled with the V8 code cache the build made for it
// (dist/get-token-fast.cache, scripts/code-cache.mjs), so its functions are not compiled again at
// each start (~1 ms, issue 13). The cache is as trusted as the bundle beside it: both are written by
// the build, into the directory authd is installed in. One V8 does not take another's cache (a Node
// upgrade): it is rejected and the bundle compiled as usual; without one, the same.
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';

/** The bundle, as the CommonJS loader would wrap it; the cache holds code for exactly this text. */
export function compile(file: string, cachedData: Buffer | undefined): Script {
  const source = readFileSync(file, 'utf8');
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
}

/** Runs the bundle's module code; its exports (start, fastGetToken). */
export function load(script: Script, file: string): Record<string, unknown> {
  const module = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, require, module, file, __dirname);
  return module.exports;
}

if (require.main === module) {
  const file = `${__dirname}/get-token-fast.cjs`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${__dirname}/get-token-fast.cache`);
  } catch {
    // not built (or removed): compiled as usual
  }
  (load(compile(file, cachedData), file).start as () => void)();
}
