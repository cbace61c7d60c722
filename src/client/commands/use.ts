// `authd use P`: make P the default profile.
import { usage } from '../args.js';
import { type Command, HELP_FLAG, profileName } from '../command.js';

export const command: Command<{ profile: string }> = {
  name: 'use',
  synopsis: 'use P',
  summary: 'make P the default profile',
  help: `Usage: authd use PROFILE

Makes PROFILE the default (writes default_profile in the config file, keeping its comments).
`,
  flags: { ...HELP_FLAG },
  parse(args) {
    if (args.positionals.length !== 1) throw usage('use needs exactly one profile name', 'use');
    return { profile: profileName(args.positionals[0]!, 'use') };
  },
  async run(opts, io, connect) {
    const r = await (await connect()).request('use', { profile: opts.profile });
    io.stderr.write(`✓ Default profile is now ${r.defaultProfile}\n`);
    return 0;
  },
};
