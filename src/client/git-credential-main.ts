// git's credential helper on Node (dist/git-credential.cjs), which bin/git-credential-authd starts
// where the native client is not built or hands over: the same program as main.ts with
// git-credential alone in its table, so that git's every fetch loads none of the other commands.
import { command as gitCredential } from './commands/git-credential.js';
import { start } from './program.js';

if (require.main === module) start([gitCredential]);
