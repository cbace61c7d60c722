// The full Node client for `authd get-token` (dist/get-token.cjs): the same program as main.ts with
// get-token alone in its table, so that a start loads none of the other commands' code (nor the
// provider presets) — issue 13. The native client and the Node fast path (get-token-fast.ts) hand
// over to it whatever they do not answer themselves. Anything else goes to dist/authd.cjs.
import { command as getToken } from './commands/get-token.js';
import { start } from './program.js';

/** Runs get-token on this process's argv (the fast path calls it when it takes over). */
export function main(): void {
  start([getToken]);
}

if (require.main === module) main();
