// `authd secret set P`: a client secret, private key or API key from stdin into the daemon's store.
// Never from argv (it would show in `ps` and shell history).
import { AuthdError, MAX_SECRET } from '../../protocol/index.js';
import { str, usage } from '../args.js';
import { type Command, HELP_FLAG, profileName } from '../command.js';
import type { IO } from '../io.js';



export const command: Command<{ profile: string; value: string; expiresAt?: number }> = {
  name: 'secret',
  synopsis: 'secret set P [--expires DATE]',
  summary: 'store a client secret, private key or API key, read from stdin',
  help: `Usage: authd secret set PROFILE [--expires DATE] < FILE

Reads a client secret (client_credentials), a PKCS#8 PEM private key (client_auth =
"private_key_jwt") or an API key (flow = "api_key") from stdin and keeps it in the daemon's store,
with the time it was set (the profile's max_age counts from it). On a terminal it asks for it
without echo. Never takes it from the command line. Setting it again replaces it (rotation) and
clears its --expires; \`authd logout -p PROFILE\` removes it.
  --expires DATE  when the secret stops being valid (as its provider says); from then on get-token
           refuses it (exit 3) and says to set a new one. ISO 8601: a date, YYYY-MM-DD (from 00:00
           UTC that day), or a date and time with its offset, YYYY-MM-DDTHH:MM[:SS]Z or ±HH:MM
Example: authd secret set ci < ~/secrets/ci-client-secret
         authd secret set stripe --expires 2030-06-30 < ~/secrets/stripe-key
`,
  flags: { expires: { value: true }, ...HELP_FLAG },
  subcommands: ['set'],
  async parse(args, io) {
    if (args.positionals[0] !== 'set' || args.positionals.length !== 2) throw usage('secret needs: set PROFILE (the secret comes on stdin)', 'secret');
    const profile = profileName(args.positionals[1]!, 'secret');
    const expires = str(args.flags.expires);
    const expiresAt = expires === undefined ? undefined : parseExpiry(expires);
    if (expiresAt === null) {
      throw usage(`--expires ${JSON.stringify(expires!.slice(0, 40))} is not a date authd reads: give YYYY-MM-DD (from 00:00 UTC that day) `
        + 'or YYYY-MM-DDTHH:MM[:SS] followed by Z or an offset such as +02:00, e.g. 2030-06-30 or 2030-06-30T17:00:00+02:00', 'secret');
    }
    // Read before the daemon is contacted: typing may take a while.
    const value = await readSecret({ profile }, io);
    return expiresAt === undefined ? { profile, value } : { profile, value, expiresAt };
  },
  async run(opts, io, connect) {
    const params: { profile: string; value: string; expiresAt?: number } = { profile: opts.profile, value: opts.value };
    if (opts.expiresAt !== undefined) params.expiresAt = opts.expiresAt;
    const r = await (await connect()).request('secretSet', params);
    const expires = r.expiresAt === undefined ? '' : `, valid until ${new Date(r.expiresAt * 1000).toISOString().replace(/\.000Z$/, 'Z')}`;
    io.stderr.write(`✓ Stored the secret for profile ${r.profile}${r.replaced ? ' (replacing the previous one)' : ''}${expires}\n`);
    return 0;
  },
};

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * --expires as Unix seconds, or null when it is not one of the accepted ISO 8601 forms or names no
 * such day or time (2026-02-30, 24:00). A date alone means its first moment in UTC; a time needs its
 * offset, so that no one's time zone is guessed.
 */
export function parseExpiry(text: string): number | null {
  const d = DATE.exec(text);
  const t = d ? undefined : DATE_TIME.exec(text);
  const m = d ?? t;
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = t ? [Number(t[4]), Number(t[5]), Number(t[6] ?? 0)] : [0, 0, 0];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March, and years below 100 into the 1900s: refuse both.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day
    || hour > 23 || minute > 59 || second > 59) return null;
  let offset = 0;
  if (t?.[8]) {
    const [oh, om] = [Number(t[9]), Number(t[10])];
    if (oh > 23 || om > 59) return null;
    offset = (t[8] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return (ms - offset) / 1000;
}

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
