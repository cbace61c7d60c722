// git's credential helper protocol: key=value lines on stdin (ended by a blank line or EOF),
// the answer as key=value lines on stdout. Never prompts; nothing on stderr unless something is wrong.
import { readSync } from 'node:fs';
import { AuthdError, type GitAction, MAX_FRAME_BYTES, printable } from '../../protocol/index.js';
import { usage } from '../args.js';
import { type Command, HELP_FLAG, type Requester } from '../command.js';
import { callerInfo, type IO } from '../io.js';
import { nativeAnswer } from '../native-answer.js';
import { requestWithEnvSecret } from '../token-requests.js';

/** More than fits in one request frame is refused rather than cut. */
const MAX_INPUT = MAX_FRAME_BYTES - 1024;

/** `attrs`: what git sent, read before the daemon is contacted (a connection is not held open while git writes). */
interface GitCredentialOptions {
  /** undefined: an action git added after this helper was written; a helper ignores those. */
  action?: GitAction;
  attrs: [string, string][];
}

export const command: Command<GitCredentialOptions> = {
  name: 'git-credential',
  synopsis: 'git-credential get|store|erase',
  summary: "git's credential helper protocol (also git-credential-authd)",
  help: `Usage: authd git-credential get|store|erase   (git runs this as git-credential-authd)

Speaks git's credential helper protocol on stdin/stdout.
For hosts in a profile's git_hosts: get answers with a fresh access token (never the refresh
token); store does nothing; erase (git saying the server rejected it) drops that access token so
the next get refreshes. A dead session prints nothing for git and one line on stderr.
For every other host: a secure storage helper with the semantics of git's own store/cache.
`,
  flags: { ...HELP_FLAG },
  subcommands: ['get', 'store', 'erase'],
  async parse(args, io) {
    if (args.positionals.length !== 1) throw usage('git-credential needs one of get, store, erase', 'git-credential');
    const action = args.positionals[0];
    if (action !== 'get' && action !== 'store' && action !== 'erase') return { attrs: [] };
    return { action, attrs: parseCredential(await readCredential(io)) };
  },
  retryable: (opts) => opts.action === 'get',
  async run(opts, io, connect) {
    if (!opts.action) return 0;
    const answered = opts.action === 'get' ? nativeAnswer(io.env) : undefined;
    if (answered) throw answered;
    return answerGit({ action: opts.action, attrs: opts.attrs }, io, await connect());
  },
};

async function answerGit(opts: { action: GitAction; attrs: [string, string][] }, io: IO, conn: Requester): Promise<number> {
  const { attrs } = opts;
  const caller = callerInfo('git');
  const r = await requestWithEnvSecret(conn, 'gitCredential', { action: opts.action, attrs, caller }, io.env);
  if (r.message) io.stderr.write(`${printable(r.message)}\n`);
  // A line break or NUL inside a value would let it add lines of its own to git's input (quit=1, username=…).
  const broken = r.attrs.find(([k, v]) => !/^[a-z_]+(\[\])?$/.test(k) || /[\0\n\r]/.test(v));
  if (broken) {
    throw new AuthdError('bad_request', `the answer for git holds a line break or NUL in ${/^[a-z_]+(\[\])?$/.test(broken[0]) ? broken[0] : 'a key'}; not passing it to git`);
  }
  if (r.attrs.length) io.stdout.write(`${r.attrs.map(([k, v]) => `${k}=${v}`).join('\n')}\n`);
  return 0;
}

/**
 * Reads up to the first blank line, or EOF (git may close without one). More than MAX_INPUT bytes
 * before it is refused, however the bytes arrive (the native client, src/native/authd-client.c, reads
 * by the same rule). The process's own stdin is read straight from its descriptor, as git writes and
 * then waits: process.stdin, for a pipe a net.Socket, would load node:net for it (~2 ms a fetch on
 * Node, issue 13). A descriptor that cannot be read so (non-blocking, or an error) is read on as a stream.
 */
async function readCredential(io: IO): Promise<string> {
  const chunks: Buffer[] = [];
  if (io.stdinFd !== undefined) {
    // Room for a blank line (up to 3 bytes: \n\r\n) that starts at MAX_INPUT, as a stream could bring it.
    const buf = Buffer.allocUnsafe(MAX_INPUT + 3);
    let size = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(io.stdinFd, buf, size, buf.length - size, null);
      } catch {
        break; // EAGAIN and the like: the stream takes over from here
      }
      if (n === 0) return buf.toString('utf8', 0, size);
      size += n;
      const end = credentialEnd(buf.subarray(0, size));
      if (end !== undefined) return buf.toString('utf8', 0, end);
      if (size > MAX_INPUT) throw tooLong();
    }
    chunks.push(Buffer.from(buf.subarray(0, size)));
  }
  return readCredentialStream(io.stdin, chunks);
}

/** Where the credential ends (the blank line's start) in what was read; over MAX_INPUT is an error. */
function credentialEnd(read: Buffer): number | undefined {
  const end = read.toString('latin1').search(/(^|\n)\r?\n/);
  if (end > MAX_INPUT) throw tooLong();
  return end === -1 ? undefined : end;
}

function tooLong(): AuthdError {
  return new AuthdError('bad_request', `the credential from git is over ${MAX_INPUT} bytes; refusing it`);
}

/** readCredential on a stream, after `chunks` already read. */
function readCredentialStream(stdin: NodeJS.ReadableStream, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = chunks.reduce((n, c) => n + c.length, 0);
    const done = (err?: AuthdError) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onEnd);
      stdin.pause();
      // The answer goes out after the blank line; a stdin git keeps open must not keep us alive.
      if ('destroy' in stdin && typeof stdin.destroy === 'function') stdin.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const all = Buffer.concat(chunks);
      let end: number | undefined;
      try {
        end = credentialEnd(all);
      } catch (err) {
        return done(err as AuthdError);
      }
      if (end !== undefined) {
        chunks.length = 0;
        chunks.push(all.subarray(0, end));
        done();
      } else if (size > MAX_INPUT) {
        done(tooLong());
      }
    };
    const onEnd = () => done();
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onEnd);
  });
}

/** `key=value` lines; the value is everything after the first `=`. A NUL byte is refused, as git does. */
function parseCredential(text: string): [string, string][] {
  if (text.includes('\0')) throw new AuthdError('bad_request', 'the credential from git contains a NUL byte; refusing it');
  const attrs: [string, string][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new AuthdError('bad_request', 'the credential from git has a line without key=value; refusing it');
    attrs.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return attrs;
}
