// git's credential helper on Node (dist/git-credential.cjs), which bin/git-credential-authd starts
// where the native client is not built or hands over: the same program as main.ts with
// git-credential alone in its table, so that git's every fetch loads none of the other commands. It
// asks the daemon as get-token's fast path does, one request on a connection of its own, without
// node:net where Node lends its pipe handle (one-request.ts); where that gets no answer, or the
// native client already asked (nativeAsked), on the full client's connection (which starts a daemon,
// pings a silent one, says what went wrong).
import { command as gitCredential } from './commands/git-credential.js';
import { connect } from './connection.js';
import { nativeAsked } from './native-answer.js';
import { oneRequestEach } from './one-request.js';
import { start } from './program.js';

if (require.main === module) {
  start([gitCredential], {
    connect: async (io) => (nativeAsked(io.env) ? connect({ env: io.env }) : oneRequestEach(io.env, () => connect({ env: io.env }))),
  });
}
