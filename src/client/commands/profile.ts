// `authd profile add NAME --provider P …`: a commented profile section from a provider preset;
// `authd profile remove NAME`: that section gone again.
import { type PresetOptions, printable } from '../../protocol/index.js';
import { flagList, PRESET_FLAGS, PRESET_NAMES, PRESETS, resolvePreset } from '../../protocol/presets.js';
import { str, usage } from '../args.js';
import { type Command, HELP_FLAG, profileName } from '../command.js';

type ProfileOptions =
  | { action: 'add'; profile: string; provider: string; options: PresetOptions; makeDefault: boolean }
  | { action: 'remove'; profile: string };

const OPTION_FLAGS = Object.fromEntries(Object.values(PRESET_FLAGS).map((f) => [f.flag, { value: true, multiple: f.flag === 'git-host' }]));

/** Each preset, its flags, and what its own options mean. */
function presetHelp(): string {
  return PRESETS.map((p) => {
    const lines = [`  ${p.name.padEnd(9)} ${p.title}: ${flagList(p)}`];
    for (const [option, spec] of Object.entries(p.options)) {
      if (option === 'clientId') continue;
      if (option === 'gitHosts') {
        if (Array.isArray(spec.default)) lines.push(`            git hosts: ${spec.default.join(', ').replace('{host}', 'the --url host')} unless --git-host is given`);
        continue;
      }
      lines.push(`            --${PRESET_FLAGS[option as keyof typeof PRESET_FLAGS].flag}: ${spec.about}`);
    }
    return lines.join('\n');
  }).join('\n');
}

export const command: Command<ProfileOptions> = {
  name: 'profile',
  synopsis: 'profile add NAME --provider P … | remove NAME',
  summary: 'add a profile from a provider preset, or remove one',
  help: `Usage: authd profile add NAME --provider P --client-id ID [options] [--default]
       authd profile remove NAME

add     writes a [profiles.NAME] section for provider P at the end of the config file (creating
        the file if there is none), each line commented with what it is and the provider's page that
        says so; the rest of the file stays byte for byte. Then says what to register at the provider
        and how to log in. Refuses a NAME that exists.
remove  removes the [profiles.NAME] section, and default_profile if it names NAME. It does not log
        out: while NAME is logged in or holds a stored secret it refuses, so that no refresh token is
        left in the store with no profile to revoke it. Run \`authd logout -p NAME\` first.

  --provider P          the provider preset, one of those below
  --client-id ID        the OAuth client registered for authd at the provider (every preset)
  --git-host HOST       git asks this profile for HOST (repeatable; replaces the preset's default)
  --default             also make NAME the default profile, as \`authd use NAME\` does
  --tenant, --url, --realm, --issuer, --audience, --client-secret-public: as the preset says

Presets (options in [ ] are optional):
${presetHelp()}

Example: authd profile add work --provider github --client-id Iv23liABCDEF
`,
  flags: { provider: { value: true, values: PRESET_NAMES }, ...OPTION_FLAGS, default: {}, ...HELP_FLAG },
  subcommands: ['add', 'remove'],
  parse(args) {
    const [action, name, ...extra] = args.positionals;
    if ((action !== 'add' && action !== 'remove') || name === undefined) {
      throw usage('profile needs: add NAME --provider P …, or remove NAME', 'profile');
    }
    if (extra.length) throw usage(`unexpected argument "${extra[0]!.slice(0, 40)}"`, 'profile');
    const profile = profileName(name, 'profile');
    const given = Object.keys(args.flags).filter((f) => f !== 'help' && args.flags[f] !== undefined);
    if (action === 'remove') {
      if (given.length) throw usage(`--${given[0]} is for profile add`, 'profile');
      return { action, profile };
    }
    const provider = str(args.flags.provider);
    if (provider === undefined) throw usage(`profile add needs --provider P (${PRESETS.map((p) => p.name).join(', ')})`, 'profile');
    const options: PresetOptions = {};
    for (const [option, f] of Object.entries(PRESET_FLAGS) as [keyof PresetOptions, { flag: string }][]) {
      const v = args.flags[f.flag];
      if (option === 'gitHosts') {
        if (Array.isArray(v)) options.gitHosts = v;
      } else if (typeof v === 'string') {
        options[option] = v;
      }
    }
    // Every option is checked here, before any daemon is contacted; the daemon checks them again.
    resolvePreset(provider, options, profile);
    return { action, profile, provider, options, makeDefault: args.flags.default === true };
  },
  async run(opts, io, connect) {
    const daemon = await connect();
    if (opts.action === 'remove') {
      const r = await daemon.request('profileRemove', { profile: opts.profile });
      io.stderr.write(`✓ Removed profile ${r.profile} from ${r.configPath}\n`);
      if (r.defaultCleared) io.stderr.write(`  It was the default profile: default_profile is gone too; choose another with \`authd use NAME\`.\n`);
      return 0;
    }
    const r = await daemon.request('profileAdd', {
      profile: opts.profile, provider: opts.provider, options: opts.options, makeDefault: opts.makeDefault,
    });
    io.stderr.write(`✓ ${r.created ? 'Created' : 'Added to'} ${r.configPath}${r.madeDefault ? ` (now the default profile)` : ''}:\n\n`);
    for (const line of r.section.replace(/\r?\n$/, '').split(/\r?\n/)) io.stderr.write(`  ${printable(line)}\n`);
    io.stderr.write('\n');
    io.stderr.write(`Next, at ${r.provider}:\n`);
    for (const step of r.register) io.stderr.write(`  - ${printable(step)}\n`);
    io.stderr.write(`Then log in: authd login -p ${r.profile}\n`);
    return 0;
  },
};
