// `authd logout`: revoke at the provider and forget the session (and, with --all, every stored secret).
import { printable } from '../../protocol/index.js';
import { usage } from '../args.js';
import { chosenProfile, type Command, HELP_FLAG, noPositionals, PROFILE_FLAG } from '../command.js';

export interface LogoutOptions {
  profile?: string;
  all: boolean;
}

export const command: Command<LogoutOptions> = {
  name: 'logout',
  synopsis: 'logout [--all]',
  summary: 'revoke at the provider and forget the session',
  help: `Usage: authd logout [-p PROFILE | --all]

Revokes the session at the provider (RFC 7009) where it can, and deletes it from the store.
For a profile whose secret was stored with \`authd secret set\` (a client secret, private key or
API key), that secret is deleted too. --all does this for every profile.
`,
  flags: { ...PROFILE_FLAG, all: {}, ...HELP_FLAG },
  parse(args, io) {
    noPositionals(args, 'logout');
    if (args.flags.all && args.flags.profile) throw usage('give either -p PROFILE or --all, not both', 'logout');
    return { profile: args.flags.all ? undefined : chosenProfile(args, io, 'logout'), all: args.flags.all === true };
  },
  async run(opts, io, connect) {
    const params: { profile?: string; all?: boolean } = opts.all ? { all: true } : {};
    if (opts.profile) params.profile = opts.profile;
    const r = await (await connect()).request('logout', params);
    for (const p of r.profiles) {
      if (!p.removed) {
        io.stderr.write(`profile ${p.profile} was not logged in\n`);
        continue;
      }
      io.stderr.write(`✓ Logged out of ${p.profile}${p.revoked ? ' (revoked at the provider)' : ''}\n`);
      if (p.note) io.stderr.write(`  ${printable(p.note)}\n`);
    }
    return 0;
  },
};
