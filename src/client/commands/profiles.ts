// `authd profiles`: the configured profiles, the default marked.
import { type Command, HELP_FLAG, JSON_FLAG, noPositionals, writeJson } from '../command.js';
import { table } from './format.js';

export const command: Command<{ json: boolean }> = {
  name: 'profiles',
  synopsis: 'profiles [--json]',
  summary: 'list profiles',
  help: `Usage: authd profiles [--json]

Lists the configured profiles; * marks the default.
  --json   {"default_profile":…,"config_path":…,"profiles":[{"name","flow","issuer","is_default"}]}
`,
  flags: { ...JSON_FLAG, ...HELP_FLAG },
  parse(args) {
    noPositionals(args, 'profiles');
    return { json: args.flags.json === true };
  },
  async run(opts, io, connect) {
    const r = await (await connect()).request('profiles', {});
    if (opts.json) {
      writeJson(io, {
        default_profile: r.defaultProfile ?? null,
        config_path: r.configPath,
        profiles: r.profiles.map((p) => ({ name: p.name, flow: p.flow, issuer: p.issuer ?? null, is_default: p.isDefault })),
      });
      return 0;
    }
    if (r.profiles.length === 0) {
      io.stderr.write(`no profiles configured in ${r.configPath}\n`);
      return 0;
    }
    const rows = [['', 'PROFILE', 'FLOW', 'ISSUER']];
    for (const p of r.profiles) rows.push([p.isDefault ? '*' : '', p.name, p.flow, p.issuer ?? '-']);
    io.stdout.write(table(rows));
    return 0;
  },
};
