// `authd git setup|status`: point git at authd (like `gh auth setup-git`), and show the host map.
import { AuthdError, type GitHostsResult } from '../../protocol/index.js';
import { usage } from '../args.js';
import { type Command, HELP_FLAG, JSON_FLAG, type Requester, writeJson } from '../command.js';
import {
  authdRuns, type ConfigEntry, credentialEntries, effectiveHelpers, exactly, getAll, gitConfig, helperCommand, hostKey, isAuthdHelper,
  pathKey, removeIfEmpty, sectionEntries,
} from '../git-config.js';
import type { IO } from '../io.js';
import { table } from './format.js';

export interface GitOptions {
  action: 'setup' | 'status';
  hosts: string[];
  all: boolean;
  undo: boolean;
  json: boolean;
}

export const command: Command<GitOptions> = {
  name: 'git',
  synopsis: 'git setup [--host HOST]… [--all] [--undo] | status [--json]',
  summary: 'make git ask authd for credentials; status shows the host map',
  help: `Usage: authd git setup [--host HOST]… [--all]
       authd git setup --undo [--host HOST]… [--all]
       authd git status [--json]

setup         writes your global git config so git asks authd for credentials: for each host in
              the profiles' git_hosts (or each --host), credential.https://HOST.helper after an
              empty value that keeps other helpers away from that host, as \`gh auth setup-git\`
              does; with --all also credential.helper, so authd stores the credentials of every
              other host too (replacing plaintext helpers such as git-credential-store). git runs
              every matching helper in the order of the file, so setup reads that order back and
              leaves exactly one authd for each host. The helper is written as \`authd\` when
              git-credential-authd on your PATH is this installation, else as this installation's
              absolute path. Running it again changes nothing.
setup --undo  removes what setup wrote for those hosts: authd's helper entries, and the empty
              value and useHttpPath when nothing else is left for the host; also credential.helper
              when it is authd, unless --host is given without --all. Helpers that setup
              replaced, such as store, are not restored.
status        shows which hosts map to which profile, and the helpers git runs for each.
  --json      {"hosts":[{"host","profile","username","git_auth","git_helper"}],"other_hosts":{"git_helper"}}
              git_helper: the authd entry git runs for those hosts, or null when git does not ask authd
`,
  flags: { host: { value: true, multiple: true }, all: {}, undo: {}, ...JSON_FLAG, ...HELP_FLAG },
  subcommands: ['setup', 'status'],
  parse(args) {
    const action = args.positionals[0];
    if ((action !== 'setup' && action !== 'status') || args.positionals.length !== 1) throw usage('git needs setup or status', 'git');
    const hosts = (args.flags.host as string[] | undefined) ?? [];
    for (const h of hosts) {
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h)) throw usage(`--host ${h.slice(0, 40)} is not a host name (HOST or HOST:PORT)`, 'git');
    }
    const opts = { action, hosts, all: args.flags.all === true, undo: args.flags.undo === true, json: args.flags.json === true } as const;
    if (action === 'status' && (opts.hosts.length || opts.all || opts.undo)) throw usage('--host, --all and --undo are for git setup', 'git');
    if (action === 'setup' && opts.json) throw usage('--json is for git status', 'git');
    return opts;
  },
  run: async (opts, io, connect) => git(opts, io, await connect()),
};

async function git(opts: GitOptions, io: IO, conn: Requester): Promise<number> {
  const mapped = await conn.request('gitHosts', {});
  if (opts.action === 'status') return status(mapped, opts.json, io);
  const hosts = opts.hosts.length ? opts.hosts : [...new Set(mapped.hosts.map((h) => h.host.split('/')[0]!))];
  if (opts.undo) return undo(hosts, opts.all || opts.hosts.length === 0, mapped, io);
  if (hosts.length === 0 && !opts.all) {
    throw new AuthdError('usage', `no git_hosts in ${mapped.configPath} and no --host given`,
      'add git_hosts to a profile, or run `authd git setup --host HOST` (or --all for every host)');
  }
  const helper = helperCommand(io.env);
  for (const host of hosts) {
    const key = hostKey(host);
    const values = getAll(key, io);
    // An empty value first resets helpers configured elsewhere for this host, as gh does.
    if (values[0] !== '' || values.length > 2 || (values.length === 2 && values[1] !== helper)) {
      gitConfig(['--global', '--replace-all', key, ''], io);
      gitConfig(['--global', '--add', key, helper], io);
    }
    if (mapped.hosts.some((h) => h.host.startsWith(`${host}/`)) && gitConfig(['--global', '--get', pathKey(host)], io) !== 'true') {
      gitConfig(['--global', pathKey(host), 'true'], io);
    }
  }
  const global = getAll('credential.helper', io);
  if (opts.all) {
    if (global.length !== 1 || global[0] !== helper) gitConfig(['--global', '--replace-all', 'credential.helper', helper], io);
  } else {
    // authd written before in another form (an absolute path since moved) is brought up to date.
    for (const old of new Set(global.filter((v) => isAuthdHelper(v) && v !== helper))) {
      gitConfig(['--global', '--replace-all', 'credential.helper', helper, exactly(old)], io);
    }
  }

  // git collects every matching helper in file order, an empty value clearing the list, so where
  // credential.helper sits decides whether authd runs once, twice or not at all for a host.
  let failed = 0;
  for (const host of hosts) {
    let runs = authdRuns(host, io);
    if (runs > 1) {
      for (const v of new Set(getAll(hostKey(host), io).filter(isAuthdHelper))) gitConfig(['--global', '--unset-all', hostKey(host), exactly(v)], io);
      runs = authdRuns(host, io);
    }
    if (runs === 0) {
      gitConfig(['--global', '--add', hostKey(host), helper], io);
      runs = authdRuns(host, io);
    }
    if (runs === 1) io.stderr.write(`✓ git uses authd for https://${host}\n`);
    else {
      failed++;
      io.stderr.write(`! git would run authd ${runs === 0 ? 'not at all' : `${runs} times`} for https://${host}: entries later in your global git config`
        + ` change the helpers for it (see \`git config --global --get-regexp '^credential\\.'\`)\n`);
    }
  }
  if (opts.all) io.stderr.write('✓ git stores credentials for every other host in authd (credential.helper)\n');
  return failed ? 1 : 0;
}

async function undo(hosts: string[], global: boolean, mapped: GitHostsResult, io: IO): Promise<number> {
  const removed: string[] = [];
  const unset = (key: string, values: string[]) => {
    for (const v of new Set(values)) {
      gitConfig(['--global', '--unset-all', key, exactly(v)], io);
      removed.push(`${key} = ${v === '' ? '(the empty value)' : v}`);
    }
  };
  for (const host of hosts) {
    const before = removed.length;
    const key = hostKey(host);
    const values = getAll(key, io);
    unset(key, values.filter(isAuthdHelper));
    const rest = values.filter((v) => !isAuthdHelper(v));
    if (rest.length && rest.every((v) => v === '')) unset(key, ['']);
    const section = sectionEntries(`credential.https://${host}`, io);
    const setPath = mapped.hosts.some((h) => h.host.startsWith(`${host}/`));
    if (setPath && section.length === 1 && section[0]!.key === `credential.https://${host}.usehttppath` && section[0]!.value === 'true') {
      unset(pathKey(host), ['true']);
    }
    if (removed.length > before) removeIfEmpty(`credential.https://${host}`, io);
  }
  if (global) {
    const before = removed.length;
    unset('credential.helper', getAll('credential.helper', io).filter(isAuthdHelper));
    if (removed.length > before) removeIfEmpty('credential', io);
  }
  if (removed.length === 0) io.stderr.write("nothing of authd's in your global git config to remove\n");
  for (const r of removed) io.stderr.write(`✓ removed ${r}\n`);
  if (removed.length) io.stderr.write('helpers that `authd git setup` replaced (such as store) are not restored\n');
  return 0;
}

function status(mapped: GitHostsResult, json: boolean, io: IO): number {
  let entries: ConfigEntry[] = [];
  try {
    entries = credentialEntries(io);
  } catch {
    // No git: every host shows as not set up.
  }
  const authdIn = (helpers: string[]) => helpers.find(isAuthdHelper) ?? null;
  const hosts = mapped.hosts.map((h) => {
    const [host, ...path] = h.host.split('/');
    return { ...h, helpers: effectiveHelpers(entries, host!, path.join('/')) };
  });
  const others = effectiveHelpers(entries, '');
  if (json) {
    writeJson(io, {
      hosts: hosts.map((h) => ({ host: h.host, profile: h.profile, username: h.username, git_auth: h.auth ?? 'basic', git_helper: authdIn(h.helpers) })),
      other_hosts: { git_helper: authdIn(others) },
    });
    return 0;
  }
  if (mapped.hosts.length === 0) io.stdout.write(`no git_hosts in ${mapped.configPath}\n`);
  else {
    const rows = [['HOST', 'PROFILE', 'USERNAME', 'GIT AUTH', 'GIT HELPER']];
    for (const h of hosts) {
      const shown = authdIn(h.helpers) ? h.helpers.join(', ') : `${h.helpers.length ? `${h.helpers.join(', ')}; ` : ''}not authd: run \`authd git setup\``;
      rows.push([h.host, h.profile, h.username, h.auth ?? 'basic', shown]);
    }
    io.stdout.write(table(rows));
  }
  io.stdout.write(`other hosts: ${authdIn(others) ? 'stored by authd' : 'not handled by authd (authd git setup --all)'}\n`);
  return 0;
}
