// `authd login`: the device flow on a terminal (code, QR, countdown) or as JSON events; client
// credentials are verified by fetching a token.
import { spawn } from 'node:child_process';
import { type BrowserHint, type BrowserLoginInfo, type DeviceCodeInfo, printable, type ReplacedSession } from '../../protocol/index.js';
import { usage } from '../args.js';
import { chosenProfile, type Command, type Requester, HELP_FLAG, JSON_FLAG, noPositionals, PROFILE_FLAG } from '../command.js';
import type { IO } from '../io.js';
import { requestWithEnvSecret } from '../token-requests.js';
import { formatDuration } from './format.js';

export interface LoginOptions {
  profile?: string;
  json: boolean;
  browser: boolean;
  /** --web, --device: this login's flow, whatever the profile says. */
  flow?: 'browser' | 'device';
}

export const command: Command<LoginOptions> = {
  name: 'login',
  synopsis: 'login [--web|--device] [--json] [--no-browser]',
  summary: 'log in (in a browser or with a one-time code; client credentials are verified)',
  help: `Usage: authd login [-p PROFILE] [--web | --device] [--json] [--no-browser]

With flow = "auto" (the default) you log in in your browser where authd can open one, and with a
one-time code (device flow) otherwise, e.g. over SSH. Browser: authd opens the provider's page and
waits for it to send the browser back to this machine. Device flow: shows a URL and a one-time
code, opens the browser where there is one, and waits until you approve. A second \`authd login\`
for the same profile joins the login in progress. For client_credentials profiles, fetches a
token to check the secret.
  --web         log in in a browser (on this machine), whatever the profile's flow
  --device      log in with a one-time code, whatever the profile's flow
  --json        one JSON object per line on stdout: {"event":"authorization_url",…} or
                {"event":"device_code",…}, then {"event":"logged_in",…}
  --no-browser  do not open a browser
`,
  flags: { ...PROFILE_FLAG, ...JSON_FLAG, 'no-browser': {}, web: {}, device: {}, ...HELP_FLAG },
  parse(args, io) {
    noPositionals(args, 'login');
    const opts: LoginOptions = { profile: chosenProfile(args, io, 'login'), json: args.flags.json === true, browser: args.flags['no-browser'] !== true };
    const flow = loginFlow(args.flags.web === true, args.flags.device === true);
    if (flow) opts.flow = flow;
    return opts;
  },
  run: async (opts, io, connect) => login(opts, io, await connect()),
};

async function login(opts: LoginOptions, io: IO, conn: Requester): Promise<number> {
  const params = { ...(opts.profile ? { profile: opts.profile } : {}), ...loginChoice(opts, io) };
  const started = await requestWithEnvSecret(conn, 'loginStart', params, io.env);
  const profile = started.profile;
  if (started.status === 'logged_in') {
    if (opts.json) io.stdout.write(`${JSON.stringify({ event: 'logged_in', profile, subject: started.subject ?? null })}\n`);
    else io.stderr.write(`✓ Verified the credentials of profile ${profile}\n`);
    return 0;
  }
  if ('browser' in started) return browserLogin(started.browser, profile, started, opts, io, conn);
  const d = started.device;
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({
      event: 'device_code',
      profile,
      verification_uri: d.verification_uri,
      verification_uri_complete: d.verification_uri_complete ?? null,
      user_code: d.user_code,
      expires_in: d.expires_in,
      joined: d.joined,
      replaces: started.replaces ? { subject: started.replaces.subject ?? null, expires_at: started.replaces.expires_at ?? null } : null,
    })}\n`);
  } else {
    if (started.replaces) io.stderr.write(`${replacing(profile, started.replaces)}\n`);
    await showCode(d, profile, opts.browser, io, started.reason);
  }
  return awaitLogin(profile, d.expires_in, opts, io, conn);
}

/** What a login does to the session the profile has: it stays until the new one is approved, which revokes it. */
function replacing(profile: string, old: ReplacedSession): string {
  const left = old.expires_at === undefined ? 0 : old.expires_at - Date.now() / 1000;
  const who = old.subject ? ` as ${printable(old.subject)}` : '';
  return `Profile ${profile} is logged in${who}${left > 0 ? ` (token valid for ${formatDuration(left)})` : ''}. `
    + 'Logging in again replaces that session once you approve; the old one is then revoked (Ctrl-C keeps it).';
}

async function showCode(shown: DeviceCodeInfo, profile: string, browser: boolean, io: IO, reason?: string): Promise<void> {
  // The daemon checks these where they enter; a daemon from before that check did not.
  const d = { ...shown, user_code: printable(shown.user_code), verification_uri: printable(shown.verification_uri) };
  if (shown.verification_uri_complete) d.verification_uri_complete = printable(shown.verification_uri_complete);
  const url = d.verification_uri_complete ?? d.verification_uri;
  const lines = [
    d.joined ? `A login for profile ${profile} is already in progress; joining it.` : startLine(profile, 'with a one-time code', reason),
    `! Your one-time code: ${d.user_code}`,
    `  Open ${d.verification_uri} and enter it${d.verification_uri_complete ? `, or open ${d.verification_uri_complete}` : ''}`,
  ];
  io.stderr.write(`${lines.join('\n')}\n`);
  if (io.stderr.isTTY) io.stderr.write(qrCode(url));
  if (browser && io.stderr.isTTY && /^https?:\/\/[^\s]+$/.test(url) && canOpenBrowser(io.env)) {
    // Said only once the opener runs: a missing xdg-open is reported after spawn returns.
    const opener = await openBrowser(url, io.env);
    io.stderr.write(opener.started ? `  (opening it in your browser)\n` : `  (could not open a browser: ${opener.why})\n`);
  }
}

/** --web or --device, not both. */
function loginFlow(web: boolean, device: boolean): LoginOptions['flow'] {
  if (web && device) throw usage('--web and --device cannot be used together', 'login');
  return web ? 'browser' : device ? 'device' : undefined;
}

/** What loginStart is told: the flow asked for, and whether a browser can be opened here (and why not). */
function loginChoice(opts: LoginOptions, io: IO): { flow?: 'browser' | 'device'; browser: BrowserHint } {
  const choice: { flow?: 'browser' | 'device'; browser: BrowserHint } = { browser: browserHint(opts.browser, io.env) };
  if (opts.flow) choice.flow = opts.flow;
  return choice;
}

function browserHint(allowed: boolean, env: IO['env']): BrowserHint {
  if (!allowed) return { available: false, reason: '--no-browser' };
  if (canOpenBrowser(env)) return { available: true, reason: 'a display is available' };
  const display = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
  if (env.AUTHD_NO_BROWSER === '1') return { available: false, reason: 'AUTHD_NO_BROWSER=1' };
  if (env.SSH_CONNECTION) return { available: false, reason: display ? 'SSH session' : 'no display: SSH session' };
  return { available: false, reason: 'no display' };
}

/** "Logging in to acme in your browser (a display is available)…"; an older daemon gives no reason. */
function startLine(profile: string, how: string, reason: string | undefined): string {
  return reason ? `Logging in to ${profile} ${how} (${printable(reason)})…` : `Logging in to profile ${profile}.`;
}

/**
 * The browser login: the daemon listens for the provider's redirect; this opens the URL (where a
 * browser can be opened) and waits. Nothing secret passes here: the code goes to the daemon.
 */
async function browserLogin(
  b: BrowserLoginInfo, profile: string, started: { reason?: string; replaces?: ReplacedSession }, opts: LoginOptions, io: IO, conn: Requester,
): Promise<number> {
  const url = printable(b.url);
  const web = /^https?:\/\/[^\s]+$/.test(url);
  const opened = web && opts.browser && canOpenBrowser(io.env) ? (await openBrowser(url, io.env)).started : false;
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({
      event: 'authorization_url', profile, url: b.url, redirect_uri: b.redirect_uri, expires_in: b.expires_in, joined: b.joined,
      replaces: started.replaces ? { subject: started.replaces.subject ?? null, expires_at: started.replaces.expires_at ?? null } : null,
    })}\n`);
  } else {
    if (started.replaces) io.stderr.write(`${replacing(profile, started.replaces)}\n`);
    const lines = [b.joined ? `A login for profile ${profile} is already in progress; joining it.` : startLine(profile, 'in your browser', started.reason)];
    lines.push(opened ? '  If no browser window opens, open this URL:' : '  Open this URL in a browser on this machine:', `  ${url}`);
    if (io.env.SSH_CONNECTION && URL.canParse(b.redirect_uri)) {
      const port = new URL(b.redirect_uri).port;
      lines.push(`  The provider sends the browser back to ${printable(b.redirect_uri)}: from another machine, forward that port first (ssh -L ${port}:127.0.0.1:${port} …).`);
    }
    io.stderr.write(`${lines.join('\n')}\n`);
  }
  return awaitLogin(profile, b.expires_in, opts, io, conn);
}

/** Either flow's end: waits for the daemon to say the login completed (a countdown on a terminal), and says who logged in. */
async function awaitLogin(profile: string, expiresIn: number, opts: LoginOptions, io: IO, conn: Requester): Promise<number> {
  // Ctrl-C: the daemon ends the login once the last `authd login` waiting for it has gone; say so in
  // place of the countdown, then die of the signal as the shell expects (exit 130). Listened for before
  // the countdown shows: a user may type Ctrl-C as soon as it does.
  let stopCountdown: (done: boolean) => void = () => undefined;
  const interrupted = () => {
    stopCountdown(false);
    io.stderr.write(`authd: login to ${profile} interrupted: unless another \`authd login\` waits for it, it is cancelled and nothing is stored\n`);
    conn.close();
    const die = () => process.kill(process.pid, 'SIGINT');
    // What the terminal did not take at once is queued in Node's stream: the signal waits for it.
    if (io.stderr.queued) process.stderr.write('', die);
    else die();
  };
  process.once('SIGINT', interrupted);
  if (!opts.json) stopCountdown = countdown(expiresIn, io);
  try {
    const done = await conn.request('loginWait', { profile });
    stopCountdown(true);
    if (opts.json) io.stdout.write(`${JSON.stringify({ event: 'logged_in', profile, subject: done.subject ?? null })}\n`);
    else io.stderr.write(`✓ Logged in to ${profile}${done.subject ? ` as ${printable(done.subject)}` : ''}\n`);
    return 0;
  } finally {
    process.removeListener('SIGINT', interrupted);
    stopCountdown(false);
  }
}

/** A QR code of the verification URL, for a phone; loaded only when there is a terminal to draw on. */
function qrCode(url: string): string {
  try {
    const { renderUnicodeCompact } = require('uqr') as typeof import('uqr');
    return `${renderUnicodeCompact(url, { border: 1 })}\n`;
  } catch {
    return '';
  }
}

function canOpenBrowser(env: IO['env']): boolean {
  if (env.AUTHD_NO_BROWSER === '1' || env.SSH_CONNECTION) return false;
  return process.platform === 'darwin' || process.platform === 'win32' || Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Starts the platform's opener for `url`, detached; resolves once it runs, or with why it could not. */
function openBrowser(url: string, env: IO['env']): Promise<{ started: true } | { started: false; why: string }> {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]]
    : ['xdg-open', [url]];
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      // The user's environment: its PATH finds the opener, its DISPLAY the desktop.
      child = spawn(cmd, args as string[], { detached: true, stdio: 'ignore', env });
    } catch {
      resolve({ started: false, why: `${cmd} could not be started` });
      return;
    }
    child.once('spawn', () => {
      child.unref();
      resolve({ started: true });
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      resolve({ started: false, why: err.code === 'ENOENT' ? `${cmd} is not installed` : `${cmd} could not be started (${err.code ?? 'error'})` });
    });
  });
}

/** A live "time left" line on a terminal; nothing on a pipe. Returns a stopper. */
function countdown(expiresIn: number, io: IO): (done: boolean) => void {
  if (!io.stderr.isTTY) {
    io.stderr.write('Waiting for approval…\n');
    return () => undefined;
  }
  const end = Date.now() + expiresIn * 1000;
  const draw = () => io.stderr.write(`\r\x1b[2KWaiting for approval… ${formatDuration((end - Date.now()) / 1000)} left`);
  draw();
  const timer = setInterval(draw, 1000);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    io.stderr.write('\r\x1b[2K');
  };
}
