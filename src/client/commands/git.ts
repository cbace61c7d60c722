// `authd git setup|status`: point git at authd (like `gh auth setup-git`), and show the host map.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AuthdError } from '../../protocol/index.js';
import { usage } from '../args.js';
import { type Command, HELP_FLAG, type Requester } from '../command.js';
import type { IO } from '../io.js';
import { table } from './format.js';

export interface GitOptions {
  action: 'setup' | 'status';
  hosts: string[];
  all: boolean;
}

export const command: Command<GitOptions> = {
  name: 'git',
  synopsis: 'git setup [--all] | status',
  summary: 'make git ask authd for credentials; status shows the host map',
  help: `Usage: authd git setup [--host HOST]… [--all]
       authd git status

setup   writes your global git config so git asks authd for credentials: for each host in the
        profiles' git_hosts (or each --host), credential.https://HOST.helper; with --all also
        credential.helper, so authd stores the credentials of every other host too (replacing
        plaintext helpers such as git-credential-store).
status  shows which hosts map to which profile, and whether git is set up for them.
`,
  flags: { host: { value: true, multiple: true }, all: {}, ...HELP_FLAG },
  parse(args) {
    const action = args.positionals[0];
    if ((action !== 'setup' && action !== 'status') || args.positionals.length !== 1) throw usage('git needs setup or status', 'git');
    const hosts = (args.flags.host as string[] | undefined) ?? [];
    for (const h of hosts) {
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h)) throw usage(`--host ${h.slice(0, 40)} is not a host name (HOST or HOST:PORT)`, 'git');
    }
    return { action, hosts, all: args.flags.all === true };
  },
  run: async (opts, io, connect) => git(opts, io, await connect()),
};

/** The helper git runs: this installation's launcher, by absolute path (npx and local installs are not on PATH). */
export function helperCommand(): string {
  return join(__dirname, '..', 'bin', 'git-credential-authd');
}

async function git(opts: GitOptions, io: IO, conn: Requester): Promise<number> {
  const mapped = await conn.request('gitHosts', {});
  if (opts.action === 'status') {
    if (mapped.hosts.length === 0) io.stdout.write(`no git_hosts in ${mapped.configPath}\n`);
    else {
      const rows = [['HOST', 'PROFILE', 'USERNAME', 'GIT AUTH', 'GIT HELPER']];
      for (const h of mapped.hosts) {
        rows.push([h.host, h.profile, h.username, h.auth ?? 'basic', configuredHelper(h.host, io) ?? 'not set: run `authd git setup`']);
      }
      io.stdout.write(table(rows));
    }
    const global = gitConfig(['--global', '--get-all', 'credential.helper'], io);
    io.stdout.write(`other hosts: ${global?.includes('authd') ? 'stored by authd' : 'not handled by authd (authd git setup --all)'}\n`);
    return 0;
  }
  const hosts = opts.hosts.length ? opts.hosts : [...new Set(mapped.hosts.map((h) => h.host.split('/')[0]!))];
  if (hosts.length === 0 && !opts.all) {
    throw new AuthdError('usage', `no git_hosts in ${mapped.configPath} and no --host given`,
      'add git_hosts to a profile, or run `authd git setup --host HOST` (or --all for every host)');
  }
  const helper = helperCommand();
  for (const host of hosts) {
    const key = `credential.https://${host}.helper`;
    // An empty value first resets helpers configured elsewhere for this host, as gh does.
    gitConfig(['--global', '--replace-all', key, ''], io, true);
    gitConfig(['--global', '--add', key, helper], io, true);
    if (mapped.hosts.some((h) => h.host.startsWith(`${host}/`))) {
      gitConfig(['--global', `credential.https://${host}.useHttpPath`, 'true'], io, true);
    }
    io.stderr.write(`✓ git uses authd for https://${host}\n`);
  }
  if (opts.all) {
    gitConfig(['--global', '--replace-all', 'credential.helper', helper], io, true);
    io.stderr.write('✓ git stores credentials for every other host in authd (credential.helper)\n');
  }
  return 0;
}

function configuredHelper(host: string, io: IO): string | undefined {
  const values = gitConfig(['--get-urlmatch', 'credential.helper', `https://${host.split('/')[0]}/`], io);
  return values?.split('\n').filter(Boolean).at(-1);
}

function gitConfig(args: string[], io: IO, must = false): string | undefined {
  try {
    return execFileSync('git', ['config', ...args], { env: io.env as NodeJS.ProcessEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    if (!must) return undefined;
    const e = err as { code?: string; stderr?: string };
    throw new AuthdError('usage', e.code === 'ENOENT' ? 'git is not installed (or not on PATH)' : `git config failed: ${String(e.stderr ?? '').trim().slice(0, 200)}`);
  }
}
