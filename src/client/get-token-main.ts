// The Node client's hot path (dist/get-token.cjs), which bin/authd starts for `authd get-token …`:
// the same program as main.ts with get-token alone in its table, so that a start loads none of the
// other commands' code (nor the provider presets) — issue 13. Anything else goes to dist/authd.cjs.
import { command as getToken } from './commands/get-token.js';
import { start } from './program.js';

if (require.main === module) start([getToken]);
