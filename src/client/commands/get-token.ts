// `authd get-token`: the hot path. Prints a valid access token, in the format the caller reads.
import { type GetTokenParams, type IdTokenParams, type Narrowing, normalNarrowing, type TokenResult } from '../../protocol/index.js';
import { str, usage } from '../args.js';
import { chosenProfile, type Command, HELP_FLAG, noPositionals, PROFILE_FLAG } from '../command.js';
import { callerInfo, type IO } from '../io.js';
import { nativeAnswer } from '../native-answer.js';
import {
  type ExecCredentialVersion, execCredentialVersion, formatIdToken, formatToken, TOKEN_FORMATS, type TokenFormat,
} from '../token-format.js';
import { bearerOnly, idTokenOnly, narrowedAsAsked, requestWithEnvSecret, warningLine } from '../token-requests.js';

export interface GetTokenOptions {
  profile?: string;
  minTtl?: number;
  /** A narrower token from the session (--scope, --resource). */
  narrowing?: Narrowing;
  format: TokenFormat;
  /** The session's OpenID Connect ID token instead of an access token (--id-token): formats token and json. */
  idToken?: boolean;
  /** For `exec-credential`: the version kubectl asked for (see execCredentialVersion). */
  execCredentialVersion?: ExecCredentialVersion;
}

export const command: Command<GetTokenOptions> = {
  name: 'get-token',
  synopsis: 'get-token [--min-ttl S] [--format F] [--scope S] [--resource URI] [--audience A] [--id-token]',
  summary: 'print a valid access token',
  help: `Usage: authd get-token [-p PROFILE] [--min-ttl SECONDS] [--format FORMAT]

Prints a valid access token on stdout, refreshed if it has less than --min-ttl seconds left
(default: 60 s, or a quarter of its lifetime if shorter). Asking for more than the token's whole
lifetime means half its lifetime, since no fresh token could give more. Never starts a login.
  --format token (default) | json | header | exec-credential (kubectl ExecCredential: v1, or the
           version kubectl names in KUBERNETES_EXEC_INFO: v1beta1 for kubectl before 1.22)
  --scope "A B"  a token with only these scopes, within what the login was granted: from the same
           login, kept and refreshed on its own, never served for other scopes; a scope outside
           the grant is an error (exit 2), not a login
  --resource URI  a token for this API (RFC 8707): one of the profile's resources, which its login
           asked for (another is exit 2, before the provider is asked)
  --audience A  the same for providers that name the API by audience: one of the profile's audiences
  --id-token  the session's OpenID Connect ID token instead (formats token and json: id_token,
           expires_at, profile), refreshed with the session when it has less than --min-ttl left;
           a profile without one (no "openid" in its scopes, a service flow) is an error (exit 2),
           as is a provider that issued none (exit 3: log in again)
Example: curl -H "$(authd get-token --format header)" https://api.example.com/
         authd get-token --scope "registry:pull"
`,
  flags: {
    ...PROFILE_FLAG, 'min-ttl': { value: true }, format: { short: 'f', value: true, values: TOKEN_FORMATS },
    scope: { value: true }, resource: { value: true }, audience: { value: true }, 'id-token': {}, ...HELP_FLAG,
  },
  parse(args, io) {
    noPositionals(args, 'get-token');
    const format = str(args.flags.format) ?? 'token';
    if (!(TOKEN_FORMATS as string[]).includes(format)) throw usage(`--format must be one of ${TOKEN_FORMATS.join(', ')}`, 'get-token');
    const opts: GetTokenOptions = { profile: chosenProfile(args, io, 'get-token'), format: format as TokenFormat };
    if (format === 'exec-credential') opts.execCredentialVersion = execCredentialVersion(io.env);
    const scope = str(args.flags.scope);
    const narrowing = normalNarrowing({ scopes: scope?.split(' ').filter(Boolean), resource: str(args.flags.resource), audience: str(args.flags.audience) });
    if (narrowing) opts.narrowing = narrowing;
    if (args.flags['id-token'] === true) {
      if (format !== 'token' && format !== 'json') throw usage('--id-token prints in format token or json only', 'get-token');
      if (narrowing) throw usage('--id-token does not go with --scope, --resource or --audience: the ID token is the session\'s own', 'get-token');
      opts.idToken = true;
    }
    const minTtl = str(args.flags['min-ttl']);
    if (minTtl !== undefined) {
      opts.minTtl = Number(minTtl);
      if (!/^\d+(\.\d+)?$/.test(minTtl) || opts.minTtl > 86_400) throw usage('--min-ttl must be a number of seconds between 0 and 86400', 'get-token');
    }
    return opts;
  },
  retryable: () => true,
  async run(opts, io, connect) {
    const answered = nativeAnswer(io.env);
    if (answered) throw answered;
    if (opts.idToken) {
      const asked: IdTokenParams = { caller: callerInfo('authd get-token --id-token') };
      if (opts.profile) asked.profile = opts.profile;
      if (opts.minTtl !== undefined) asked.minTtl = opts.minTtl;
      io.stdout.write(formatIdToken(idTokenOnly(await (await connect()).request('getIdToken', asked)), opts.format));
      return 0;
    }
    printToken(await requestWithEnvSecret(await connect(), 'getToken', tokenParams(opts), io.env), opts, io);
    return 0;
  },
};

/** The request get-token sends for these options (the Node fast path sends the same bytes). */
export function tokenParams(opts: GetTokenOptions): GetTokenParams {
  const params: GetTokenParams = { caller: callerInfo('authd get-token') };
  if (opts.profile) params.profile = opts.profile;
  if (opts.minTtl !== undefined) params.minTtl = opts.minTtl;
  return Object.assign(params, opts.narrowing);
}

/** The daemon's answer, checked and printed as get-token prints it: its warning on stderr, then the token. */
export function printToken(answer: TokenResult, opts: GetTokenOptions, io: IO): void {
  const token = narrowedAsAsked(bearerOnly(answer), opts.narrowing);
  const warning = warningLine(token);
  if (warning) io.stderr.write(warning);
  io.stdout.write(formatToken(token, opts.format, opts.execCredentialVersion));
}

