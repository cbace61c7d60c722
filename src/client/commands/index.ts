// The table of commands: adding a command is writing its file, then its import and one entry in the
// table here. Help, did-you-mean and completions are made from this table.
import type { Commands } from '../command.js';
import { command as completion } from './completion.js';
import { command as daemon } from './daemon.js';
import { command as doctor } from './doctor.js';
import { command as exec } from './exec.js';
import { command as getToken } from './get-token.js';
import { command as git } from './git.js';
import { command as gitCredential } from './git-credential.js';
import { command as login } from './login.js';
import { command as logout } from './logout.js';
import { command as profile } from './profile.js';
import { command as profiles } from './profiles.js';
import { command as secret } from './secret.js';
import { command as ssh } from './ssh.js';
import { command as status } from './status.js';
import { command as store } from './store.js';
import { command as use } from './use.js';

export const COMMANDS: Commands = [
  login, getToken, exec, status, logout, profiles, profile, use, secret, store, daemon, doctor, git, gitCredential, ssh, completion,
];
