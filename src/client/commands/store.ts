// `authd store migrate --to keyring|file`: move every secret to the other store, losing nothing.
import { str, usage } from '../args.js';
import { type Command, HELP_FLAG } from '../command.js';

export const command: Command<{ to: 'keyring' | 'file' }> = {
  name: 'store',
  synopsis: 'store migrate --to keyring|file',
  summary: 'move every secret to the other store, losing nothing',
  help: `Usage: authd store migrate --to keyring|file

Moves every secret (sessions, client secrets, API keys, git credentials) from the store in use to
the other one: copies all, reads each back and compares, and only then deletes the originals, so
an interruption leaves them in both stores, never in neither. Requests wait while it runs. Where
the config names a store (store = "…"), it is updated to the new one.
`,
  flags: { to: { value: true, values: ['keyring', 'file'] }, ...HELP_FLAG },
  subcommands: ['migrate'],
  parse(args) {
    if (args.positionals[0] !== 'migrate' || args.positionals.length !== 1) throw usage('store needs: migrate --to keyring|file', 'store');
    const to = str(args.flags.to);
    if (to !== 'keyring' && to !== 'file') throw usage('--to must be keyring or file', 'store');
    return { to };
  },
  async run(opts, io, connect) {
    const r = await (await connect()).request('storeMigrate', { to: opts.to });
    io.stderr.write(`✓ Moved ${r.moved} ${r.moved === 1 ? 'entry' : 'entries'} from the ${r.from} store to the ${r.to} store\n`);
    if (r.configUpdated) io.stderr.write(`  (set store = "${r.to}" in the config)\n`);
    return 0;
  },
};
