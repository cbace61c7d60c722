// The Node client's fast path for `authd get-token` (dist/get-token-fast.cjs), which bin/authd starts
// where the native client is not built (no C compiler) or AUTHD_NATIVE=0 — issue 13. The Node twin of
// src/native/authd-client.c's get_token: the common case only (an access token, a socket in a private
// directory, a daemon that runs as the user and answers within half the patience), with the full
// client's own argument parser, checks and formats, so what it prints is the full client's, byte for byte.
// Anything else — other arguments, no daemon (autostart), silence, anything it does not fully
// understand — goes to the full client (dist/get-token.cjs) in this process. An error answer is
// printed here as the full client prints it (reportError), and secret_required is answered as it
// answers it (requestWithEnvSecret), so the daemon is never asked twice for an answer it gave. (A
// daemon silent for half the patience, or gone mid-request, is asked again by the full client, as
// after the native client: a refresh still in flight is joined, not repeated.) It loads about half the
// full client's code, none of the other commands', and not node:net: it asks the daemon as
// one-request.ts does, on Node's own pipe handle where this Node lends one; node:net and its streams
// were the largest part of a Node client's cost over `node -e 0`.
import { join } from 'node:path';
import { AuthdError, type TokenResult } from '../protocol/index.js';
import { parseArgs } from './args.js';
import { type GetTokenOptions, command as getToken, printToken, tokenParams } from './commands/get-token.js';
import { type IO, processIO, reportError } from './io.js';
import { closeAll, oneRequestEach } from './one-request.js';
import { requestWithEnvSecret } from './token-requests.js';

/**
 * `get-token` and its options, read by the full client's own parser and checks (args.ts, get-token.ts),
 * when they are all well-formed and ask for an access token; undefined for anything else (help,
 * --id-token, a bad value: the full client says what is wrong). Options before the command
 * are left to the full client.
 */
export function fastRequest(argv: readonly string[], io: IO): GetTokenOptions | undefined {
  if (argv[0] !== 'get-token') return undefined;
  try {
    const args = parseArgs(argv.slice(1), getToken.flags, getToken.name);
    if (args.flags.help || args.rest.length) return undefined;
    const opts = getToken.parse(args, io) as GetTokenOptions;
    return opts.idToken ? undefined : opts;
  } catch {
    return undefined;
  }
}

/** Thrown where the full client takes over after a request was sent (no answer it can read). */
const HAND_OVER = Symbol('hand over');

/** The full get-token client's answer, or undefined where it should take over (see the file's head). */
export async function fastGetToken(argv: readonly string[], io: IO): Promise<number | undefined> {
  const req = fastRequest(argv, io);
  if (!req || io.env.AUTHD_NATIVE_ANSWER !== undefined) return undefined;
  // One connection per request (the full client keeps one for both of requestWithEnvSecret's), each
  // checked; where one gets no answer, the full client takes over.
  const daemon = oneRequestEach(io.env, () => Promise.reject(HAND_OVER));
  // As get-token.ts: a secret_required answer is asked again with the values the user's config names, or printed.
  const t = (await requestWithEnvSecret(daemon, 'getToken', tokenParams(req), io.env)) as Partial<TokenResult> | null;
  if (typeof t !== 'object' || t === null || typeof t.access_token !== 'string' || typeof t.token_type !== 'string') return undefined;
  printToken(t as TokenResult, req, io);
  return 0;
}

/**
 * Runs the fast path on this process, or the full client where it does not answer. AUTHD_TEST_FAST_PATH=1
 * (tests) says on stderr which it was, as the native client's test build does.
 */
export function start(): void {
  const io = processIO();
  const say = io.env.AUTHD_TEST_FAST_PATH === '1' ? (what: string) => io.stderr.write(`authd: fast path: ${what}\n`) : () => undefined;
  const full = () => {
    closeAll();
    say('handed to the full client');
    (require(join(__dirname, 'get-token.cjs')) as { main(): void }).main();
  };
  // What it printed went out with writeSync: the process exits at once, rather than closing its
  // connection and waiting for its event loop to empty (~0.5 ms); the daemon sees the end either way.
  const end = (code: number) => {
    if (io.stdout.queued || io.stderr.queued) {
      closeAll();
      process.exitCode = code;
    } else process.exit(code);
  };
  fastGetToken(process.argv.slice(2), io).then(
    (code) => {
      if (code === undefined) return full();
      say('answered');
      end(code);
    },
    (err: unknown) => {
      if (!(err instanceof AuthdError)) return full();
      say('answered');
      end(reportError(err, io));
    },
  );
}

if (require.main === module) start();
