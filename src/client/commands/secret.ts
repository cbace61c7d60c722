// `authd secret set P`: a client secret, private key or API key from stdin into the daemon's store.
// Never from argv (it would show in `ps` and shell history).
import { AuthdError, MAX_SECRET } from '../../protocol/index.js';
import { usage } from '../args.js';
import { type Command, HELP_FLAG, profileName } from '../command.js';
import type { IO } from '../io.js';



export const command: Command<{ profile: string; value: string }> = {
  name: 'secret',
  synopsis: 'secret set P',
  summary: 'store a client secret, private key or API key, read from stdin',
  help: `Usage: authd secret set PROFILE < FILE

Reads a client secret (client_credentials), a PKCS#8 PEM private key (client_auth =
"private_key_jwt") or an API key (flow = "api_key") from stdin and keeps it in the daemon's store.
On a terminal it asks for it without echo. Never takes it from the command line. Setting it again
replaces it (rotation); \`authd logout -p PROFILE\` removes it.
Example: authd secret set ci < ~/secrets/ci-client-secret
`,
  flags: { ...HELP_FLAG },
  subcommands: ['set'],
  async parse(args, io) {
    if (args.positionals[0] !== 'set' || args.positionals.length !== 2) throw usage('secret needs: set PROFILE (the secret comes on stdin)', 'secret');
    const profile = profileName(args.positionals[1]!, 'secret');
    // Read before the daemon is contacted: typing may take a while.
    return { profile, value: await readSecret({ profile }, io) };
  },
  async run(opts, io, connect) {
    const r = await (await connect()).request('secretSet', { profile: opts.profile, value: opts.value });
    io.stderr.write(`✓ Stored the secret for profile ${r.profile}${r.replaced ? ' (replacing the previous one)' : ''}\n`);
    return 0;
  },
};

/** Reads the secret from stdin, asking for it on a terminal. */
async function readSecret(opts: { profile: string }, io: IO): Promise<string> {
  const interactive = (io.stdin as NodeJS.ReadStream).isTTY === true;
  if (interactive) io.stderr.write(`Paste the secret for profile ${opts.profile} and press Enter (it is not shown): `);
  const raw = interactive ? await readHidden(io.stdin as NodeJS.ReadStream) : await readAll(io.stdin);
  if (interactive) io.stderr.write('\n');
  // One trailing newline is how `echo` and editors end a file; it is not part of the secret.
  const value = raw.replace(/\r?\n$/, '');
  if (value === '') throw new AuthdError('usage', 'no secret on stdin', `pipe it in: authd secret set ${opts.profile} < file`);
  if (value.length > MAX_SECRET) throw new AuthdError('usage', `the secret is longer than ${MAX_SECRET} characters`);
  if (value.includes('\0')) throw new AuthdError('usage', 'the secret contains a NUL byte');
  return value;
}

function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stdin.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_SECRET * 2) {
        stdin.pause();
        reject(new AuthdError('usage', `the secret is longer than ${MAX_SECRET} characters`));
        return;
      }
      chunks.push(c);
    });
    stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stdin.on('error', reject);
  });
}

/** Reads one line from a terminal without echoing it. */
function readHidden(tty: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    tty.setRawMode(true);
    tty.setEncoding('utf8');
    const done = (err?: Error) => {
      tty.setRawMode(false);
      tty.removeListener('data', onData);
      tty.pause();
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new AuthdError('usage', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    tty.on('data', onData);
    tty.resume();
  });
}
