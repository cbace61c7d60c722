// Logging in in a browser: authorization code + PKCE on a loopback redirect (RFC 8252 §7.3, RFC 7636),
// against the real provider, with a headless "browser" that follows the provider's redirects by hand
// until they lead back to authd's listener; and flow = "auto" choosing between it and the device flow.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { approveDeviceCode, type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, findLeaks, Home, type ProfileSpec } from './support/harness.js';
import { freePort } from './support/ports.js';
import { type Behaviour, Hold, ProviderBehaviour } from './support/provider-behaviour.js';
import { onTerminal } from './support/terminal.js';

let idp: Idp;
let home: Home;
const homes: Home[] = [];

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 30 });
  home = newHome();
});

afterAll(async () => {
  const leaks = homes.flatMap((h) => findLeaks(idp, { log: h.stateFilesText(), stderr: h.stderrs.join('\n') }));
  for (const h of homes) await h.dispose();
  await idp?.close();
  expect(leaks).toEqual([]);
});

function newHome(): Home {
  const h = new Home();
  homes.push(h);
  return h;
}

/** A native client registered for the code flow with the loopback redirect http://127.0.0.1/callback (any port). */
function browserProfile(extra: ProfileSpec = {}): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'authd-native', flow: 'browser', ...extra };
}

/** The test runner's environment without what says whether a browser can be opened here. */
function plainEnv(h: Home, extra: Record<string, string> = {}): Record<string, string> {
  const env = h.env;
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'SSH_CONNECTION', 'SSH_CLIENT', 'SSH_TTY', 'AUTHD_NO_BROWSER']) delete env[k];
  return { ...env, ...extra };
}

/** `authd login …` left running: its --json events and stderr as they come, and how it ends. */
class Login {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  stderr = '';
  readonly exit: Promise<number | null>;

  constructor(h: Home, args: string[], env: Record<string, string> = plainEnv(h)) {
    this.child = spawn(AUTHD, ['login', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        this.events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
        this.child.emit('event');
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.child.emit('stderr');
    });
    this.exit = once(this.child, 'exit').then(([code]) => {
      h.stderrs.push(this.stderr);
      return code as number | null;
    });
  }

  /** The first event named `name`; fails if the login ends without one. */
  async event(name: string): Promise<Record<string, unknown>> {
    for (;;) {
      const ev = this.events.find((e) => e.event === name);
      if (ev) return ev;
      if (this.child.exitCode !== null) throw new Error(`login exited ${this.child.exitCode} without ${name}: ${this.stderr}`);
      await Promise.race([once(this.child, 'event'), once(this.child, 'exit')]);
    }
  }

  /** Waits until stderr matches. */
  async says(re: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      const m = re.exec(this.stderr);
      if (m) return m;
      if (this.child.exitCode !== null) throw new Error(`login exited ${this.child.exitCode}; stderr: ${this.stderr}`);
      await Promise.race([once(this.child, 'stderr'), once(this.child, 'exit')]);
    }
  }

  /** The authorization URL and where the provider sends the browser back. */
  async authorizationUrl(): Promise<{ url: string; redirectUri: string; state: string }> {
    const ev = await this.event('authorization_url');
    const url = String(ev.url);
    return { url, redirectUri: String(ev.redirect_uri), state: new URL(url).searchParams.get('state')! };
  }

  async ended(): Promise<{ code: number | null; stderr: string }> {
    const code = await this.exit;
    return { code, stderr: this.stderr };
  }
}

interface Page {
  status: number;
  body: string;
  url: string;
}

/**
 * A browser without a screen: GETs `url` and follows every redirect by hand, keeping cookies, through
 * the provider's pages (its interactions sign in and consent for alice by themselves). With `stopAt`,
 * returns the URL of the first redirect that leads there, without visiting it.
 */
async function browse(url: string, stopAt?: string): Promise<Page> {
  const jar = new Map<string, string>();
  for (let hops = 0; hops < 20; hops++) {
    if (stopAt && url.startsWith(stopAt)) return { status: 0, body: '', url };
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      url = new URL(location, url).href;
      continue;
    }
    return { status: res.status, body: await res.text(), url };
  }
  throw new Error('too many redirects');
}

/** Resolves true once nothing listens on the redirect's port any more. */
async function closed(redirectUri: string): Promise<boolean> {
  const { hostname, port } = new URL(redirectUri);
  const deadline = Date.now() + 5000;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    if (refused || Date.now() > deadline) return refused;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function getToken(h: Home, profile: string, args: string[] = []): Promise<{ code: number; token: string; stderr: string }> {
  const r = await h.run(['get-token', '-p', profile, ...args]);
  return { code: r.code, token: r.stdout.trim(), stderr: r.stderr };
}


test('a browser login: the provider\'s page, back to authd\'s own page, then get-token serves a token and refreshes it', async () => {
  home.writeConfig({ web: browserProfile() });
  const login = new Login(home, ['--json', '-p', 'web']);
  const { url, redirectUri } = await login.authorizationUrl();
  expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  const q = new URL(url).searchParams;
  expect(url.startsWith(`${idp.issuer}/auth?`)).toBe(true);
  expect(Object.fromEntries(q)).toMatchObject({
    client_id: 'authd-native', response_type: 'code', redirect_uri: redirectUri, code_challenge_method: 'S256',
    scope: 'openid offline_access', prompt: 'consent',
  });
  expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(q.get('state')).toBeTruthy();
  expect(q.get('nonce')).toBeTruthy();
  expect(url).not.toContain('code_verifier');

  const page = await browse(url);
  expect(page.url.startsWith(`${redirectUri}?`)).toBe(true);
  expect(page.status).toBe(200);
  expect(page.body).toContain('Logged in to web as alice. You can close this tab.');
  // A plain page: nothing fetched, nothing run.
  expect(page.body).not.toMatch(/<script|src=|href=|url\(/i);

  expect(await login.ended()).toMatchObject({ code: 0 });
  expect(login.events).toEqual([
    { event: 'authorization_url', profile: 'web', url, redirect_uri: redirectUri, expires_in: expect.any(Number), joined: false, replaces: null },
    { event: 'logged_in', profile: 'web', subject: 'alice' },
  ]);
  expect(await closed(redirectUri)).toBe(true);

  const first = await getToken(home, 'web');
  expect(first.code).toBe(0);
  expect(await idp.introspect(first.token)).toMatchObject({ active: true, sub: 'alice', client_id: 'authd-native' });
  // The code exchange's ID token (openid-client checked its issuer, audience, nonce and signature), kept for --id-token.
  const id = await home.run(['get-token', '-p', 'web', '--id-token']);
  expect(id).toMatchObject({ code: 0, stderr: '' });
  expect(idp.issued.has(id.stdout.trim())).toBe(true);
  const claims = JSON.parse(Buffer.from(id.stdout.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  expect(claims).toMatchObject({ iss: idp.issuer, aud: 'authd-native', sub: 'alice', nonce: expect.any(String) });
  const refreshes = idp.stats.refreshes;
  // The token is counted as living 29 s of the 30 the provider said (see idp.ts): it has less left now.
  const second = await getToken(home, 'web', ['--min-ttl', '29']);
  expect(second.code).toBe(0);
  expect(idp.stats.refreshes).toBe(refreshes + 1);
  expect(second.token).not.toBe(first.token);
  expect((await idp.introspect(second.token)).active).toBe(true);
});

test('on a terminal-less run without --json: the first line says browser and why, then the URL, then who logged in', async () => {
  home.writeConfig({ web: browserProfile(), web2: browserProfile() });
  const login = new Login(home, ['-p', 'web2']);
  const [, url] = await login.says(/\n {2}(http\S+)\n/);
  expect(login.stderr.split('\n')[0]).toBe('Logging in to web2 in your browser (flow = "browser" in the config)…');
  expect(login.stderr).toContain('Open this URL in a browser on this machine:');
  await browse(url!);
  const { code, stderr } = await login.ended();
  expect(code).toBe(0);
  expect(stderr).toContain('✓ Logged in to web2 as alice');
});

test('a second authd login joins the pending browser login and shows the same URL; both see it succeed', async () => {
  home.writeConfig({ shared: browserProfile() });
  const first = new Login(home, ['--json', '-p', 'shared']);
  const { url, redirectUri } = await first.authorizationUrl();
  const second = new Login(home, ['--json', '-p', 'shared']);
  expect(await second.event('authorization_url')).toMatchObject({ url, redirect_uri: redirectUri, joined: true });
  expect((await browse(url)).status).toBe(200);
  for (const l of [first, second]) {
    expect((await l.ended()).code).toBe(0);
    expect(l.events.at(-1)).toEqual({ event: 'logged_in', profile: 'shared', subject: 'alice' });
  }
});

test('a redirect with another state ends the login: exit 3, an error page, nothing stored', async () => {
  home.writeConfig({ forged: browserProfile() });
  const login = new Login(home, ['--json', '-p', 'forged']);
  const { url, redirectUri } = await login.authorizationUrl();
  const res = await fetch(`${redirectUri}?code=stolen-or-stale&state=not-this-one`);
  expect(res.status).toBe(400);
  const body = await res.text();
  expect(body).toContain('Login failed');
  expect(body).toContain('a state that is not this login');
  const { code, stderr } = await login.ended();
  expect(code).toBe(3);
  expect(stderr).toContain("the redirect back to authd carried a state that is not this login's");
  expect(await closed(redirectUri)).toBe(true);
  // The user finishing at the provider afterwards reaches nobody.
  await expect(browse(url)).rejects.toThrow();
  expect((await getToken(home, 'forged')).code).toBe(3);
});

test('access_denied from the provider ends the login: exit 3 with its description, nothing stored', async () => {
  home.writeConfig({ denied: browserProfile() });
  const login = new Login(home, ['--json', '-p', 'denied']);
  const { redirectUri, state } = await login.authorizationUrl();
  const res = await fetch(`${redirectUri}?${new URLSearchParams({ error: 'access_denied', error_description: 'The user said no', state })}`);
  expect(res.status).toBe(400);
  expect(await res.text()).toContain('the login was denied at the provider');
  const { code, stderr } = await login.ended();
  expect(code).toBe(3);
  expect(stderr).toContain('the login was denied at the provider (The user said no)');
  expect((await getToken(home, 'denied')).code).toBe(3);
});

test('any other error from the provider ends the login, its text made printable on the terminal and harmless on the page', async () => {
  home.writeConfig({ refused: browserProfile() });
  const login = new Login(home, ['--json', '-p', 'refused']);
  const { redirectUri, state } = await login.authorizationUrl();
  const error = 'invalid_scope\x1b]52;c;cm0gLXJmIH4=\x07';
  const res = await fetch(`${redirectUri}?${new URLSearchParams({ error, error_description: '<script>alert(1)</script>\x1b[2J', state })}`);
  const body = await res.text();
  expect(res.status).toBe(400);
  expect(body).not.toContain('<script>');
  expect(body).not.toContain('\x1b');
  const { code, stderr } = await login.ended();
  expect(code).toBe(3);
  expect(stderr).toContain('the provider refused the browser login of profile refused: invalid_scope');
  expect(stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  expect((await getToken(home, 'refused')).code).toBe(3);
});

test('a second redirect while the first is being exchanged ends the login: both pages say so, nothing stored', async () => {
  home.writeConfig({ twice: browserProfile() });
  const provider = new ProviderBehaviour(idp);
  try {
    const login = new Login(home, ['--json', '-p', 'twice']);
    const { url, redirectUri } = await login.authorizationUrl();
    const callback = (await browse(url, redirectUri)).url;
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
    // The first redirect's code exchange is held at the provider while a second one arrives.
    const hold = new Hold();
    provider.set('token', hold.behaviour, 1);
    const first = fetch(callback);
    await hold.arrived();
    const second = await fetch(callback);
    expect(second.status).toBe(400);
    expect(await second.text()).toContain('a second redirect came back to authd');
    hold.release();
    expect((await first).status).toBe(400);
    const { code, stderr } = await login.ended();
    expect(code).toBe(3);
    expect(stderr).toContain('a second redirect came back to authd while the first was being finished');
    expect((await getToken(home, 'twice')).code).toBe(3);
    expect(home.storedSession('twice')).toBeUndefined();
  } finally {
    idp.intercept(undefined);
  }
});

test('an ID token whose signature does not match the provider\'s keys ends the login: exit 1, nothing stored', async () => {
  home.writeConfig({ forgedid: browserProfile() });
  const provider = new ProviderBehaviour(idp);
  try {
    // The provider's own answer, one character of the ID token's signature changed on its way back.
    provider.set('token', (_req, res, pass) => {
      const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
      res.end = ((chunk: unknown, ...rest: unknown[]) => {
        const body = JSON.parse(String(chunk)) as { id_token?: string };
        if (body.id_token) {
          const [h, p, sig] = body.id_token.split('.') as [string, string, string];
          body.id_token = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
        }
        return end(JSON.stringify(body), ...rest);
      }) as typeof res.end;
      pass();
      return true;
    }, 1);
    const login = new Login(home, ['--json', '-p', 'forgedid']);
    const { url } = await login.authorizationUrl();
    const page = await browse(url);
    expect(page.status).toBe(400);
    const { code, stderr } = await login.ended();
    expect(code).toBe(1);
    expect(stderr).toContain("the provider's answer to the browser login of profile forgedid failed authd's checks");
    expect((await getToken(home, 'forgedid')).code).toBe(3);
    expect(home.storedSession('forgedid')).toBeUndefined();
  } finally {
    idp.intercept(undefined);
  }
});

/**
 * The provider's own token answer with its ID token's claims changed by `change`, then signed again
 * with the provider's own key: the signature is good, only the claims are not.
 */
function idTokenClaimsChanged(change: (claims: Record<string, unknown>) => void): Behaviour {
  return (_req, res, pass) => {
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    res.end = ((chunk: unknown, ...rest: unknown[]) => {
      const body = JSON.parse(String(chunk)) as { id_token?: string };
      if (body.id_token) {
        const [h, p] = body.id_token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
        change(p!);
        body.id_token = idp.signJwt(p!, h);
      }
      const text = JSON.stringify(body);
      if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(text));
      return end(text, ...rest);
    }) as typeof res.end;
    pass();
    return true;
  };
}

test('an ID token signed again with the provider\'s own key, its claims unchanged, logs in: the checks below fail on the claim alone', async () => {
  home.writeConfig({ resigned: browserProfile() });
  const provider = new ProviderBehaviour(idp);
  try {
    let original: Record<string, unknown> | undefined;
    provider.set('token', idTokenClaimsChanged((claims) => {
      original = { ...claims };
    }), 1);
    const login = new Login(home, ['--json', '-p', 'resigned']);
    const { url } = await login.authorizationUrl();
    expect((await browse(url)).status).toBe(200);
    expect((await login.ended()).code).toBe(0);
    expect(original).toMatchObject({ iss: idp.issuer, aud: 'authd-native', nonce: new URL(url).searchParams.get('nonce') });
    expect((await getToken(home, 'resigned')).code).toBe(0);
  } finally {
    idp.intercept(undefined);
  }
});

test.each([
  ['nonce', 'another login\'s nonce', (c: Record<string, unknown>) => { c.nonce = 'the-nonce-of-another-login'; },
    'is not this login\'s', 'log in again; if it happens again, something between you and the provider mixes up logins'],
  ['aud', 'another client', (c: Record<string, unknown>) => { c.aud = 'another-client'; }, 'names another client',
    'check the issuer and client_id of profile wrongaud'],
  ['iss', 'another issuer', (c: Record<string, unknown>) => { c.iss = `${idp.issuer}/other`; }, 'names another issuer',
    'check the issuer of profile wrongiss'],
] as const)('an ID token with %s of %s, signed with the provider\'s own key, ends the login naming the claim: exit 1, nothing stored', async (claim, _what, change, says, hint) => {
  const profile = `wrong${claim}`;
  home.writeConfig({ [profile]: browserProfile() });
  const provider = new ProviderBehaviour(idp);
  try {
    provider.set('token', idTokenClaimsChanged(change), 1);
    const login = new Login(home, ['--json', '-p', profile]);
    const { url } = await login.authorizationUrl();
    const page = await browse(url);
    expect(page.status).toBe(400);
    expect(page.body).toContain('Login failed');
    const { code, stderr } = await login.ended();
    expect(code).toBe(1);
    // The claim openid-client names, and its code for a claim that is not the expected one (a bad signature has another).
    expect(stderr).toContain(`authd: the provider's answer to the browser login of profile ${profile} failed authd's checks: the ID token's "${claim}" claim ${says} (OAUTH_JWT_CLAIM_COMPARISON_FAILED)\n  ${hint}\n`);
    expect(login.events.map((e) => e.event)).toEqual(['authorization_url']);
    expect((await getToken(home, profile)).code).toBe(3);
    expect(home.storedSession(profile)).toBeUndefined();
  } finally {
    idp.intercept(undefined);
  }
});

test('a request to another path gets 404 and the login goes on', async () => {
  home.writeConfig({ paths: browserProfile() });
  const login = new Login(home, ['--json', '-p', 'paths']);
  const { url, redirectUri } = await login.authorizationUrl();
  const origin = new URL(redirectUri).origin;
  for (const path of ['/favicon.ico', '/', '/callback/x']) expect((await fetch(`${origin}${path}?state=x`)).status).toBe(404);
  expect((await browse(url)).status).toBe(200);
  expect((await login.ended()).code).toBe(0);
});

test('a browser login nobody finishes ends when its time is up: exit 3, the port closed, nothing stored', async () => {
  const h = newHome();
  h.writeConfig({ slow: browserProfile() });
  const login = new Login(h, ['--json', '-p', 'slow'], plainEnv(h, { AUTHD_BROWSER_LOGIN_MS: '1500' }));
  const { redirectUri } = await login.authorizationUrl();
  const { code, stderr } = await login.ended();
  expect(code).toBe(3);
  expect(stderr).toContain('the browser login of profile slow was not finished within 2 s');
  expect(await closed(redirectUri)).toBe(true);
  expect((await getToken(h, 'slow')).code).toBe(3);
});

test('Ctrl-C on the last waiting login ends the browser login: the user is told it is cancelled, and exit 130, the port closes, finishing at the provider stores nothing', async () => {
  home.writeConfig({ quit: browserProfile() });
  // As at a terminal: the countdown runs until the user types Ctrl-C.
  const login = onTerminal(`${AUTHD} login -p quit`, { env: plainEnv(home) });
  await login.printed('Waiting for approval… ');
  const url = /\n {2}(http\S+)\r\n/.exec(login.output)![1]!;
  const redirectUri = new URL(url).searchParams.get('redirect_uri')!;
  expect(await login.interrupt()).toBe(130); // killed by SIGINT, as the shell reports it (128 + 2)
  // After the URL: the countdown, the ^C the terminal echoes, the countdown cleared and one line; no stack trace.
  const after = login.output.slice(login.output.indexOf(url) + url.length);
  expect(after.replace(/\r\x1b\[2KWaiting for approval… \d+m\d\ds left/g, ''))
    .toBe('\r\n^C\r\x1b[2Kauthd: login to quit interrupted: unless another `authd login` waits for it, it is cancelled and nothing is stored\r\n');
  home.stderrs.push(login.output);
  expect(await closed(redirectUri)).toBe(true);
  await expect(browse(url)).rejects.toThrow();
  expect((await getToken(home, 'quit')).code).toBe(3);
  expect(home.logText()).toContain('the login for profile quit was cancelled: every `authd login` waiting for it was stopped');
  // The next login is a new one.
  const again = new Login(home, ['--json', '-p', 'quit']);
  const next = await again.authorizationUrl();
  expect(next.state).not.toBe(new URL(url).searchParams.get('state'));
  expect((await browse(next.url)).status).toBe(200);
  expect((await again.ended()).code).toBe(0);
});

test('a fixed redirect_uri is used as written; when its port is taken the login fails at once, saying so, and nothing is stored', async () => {
  const port = await freePort();
  home.writeConfig({ fixed: browserProfile({ redirect_uri: `http://127.0.0.1:${port}/callback` }) });
  const ok = new Login(home, ['--json', '-p', 'fixed']);
  const { url, redirectUri } = await ok.authorizationUrl();
  expect(redirectUri).toBe(`http://127.0.0.1:${port}/callback`);
  expect((await browse(url)).status).toBe(200);
  expect((await ok.ended()).code).toBe(0);

  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  try {
    const busy = (taken.address() as net.AddressInfo).port;
    home.writeConfig({ fixed: browserProfile({ redirect_uri: `http://127.0.0.1:${port}/callback` }), busy: browserProfile({ redirect_uri: `http://127.0.0.1:${busy}/callback` }) });
    const login = new Login(home, ['--json', '-p', 'busy']);
    const { code, stderr } = await login.ended();
    expect(login.events).toEqual([]);
    expect(code).toBe(2);
    expect(stderr).toContain(`cannot listen for the browser login of profile busy on 127.0.0.1:${busy}: another program uses that port`);
    expect((await getToken(home, 'busy')).code).toBe(3);
  } finally {
    taken.close();
  }
});

/** A directory with an `xdg-open` that writes down the URL it was asked to open; `opened` waits for it. */
function fakeOpener(): { dir: string; opened: () => Promise<string> } {
  const dir = mkdtempSync(join(tmpdir(), 'authd-xdg.'));
  const script = join(dir, 'xdg-open');
  writeFileSync(script, `#!/bin/sh\nprintf '%s' "$1" > "${dir}/opened.tmp" && mv "${dir}/opened.tmp" "${dir}/opened"\n`);
  chmodSync(script, 0o755);
  const file = join(dir, 'opened');
  return {
    dir,
    opened: async () => {
      const watcher = watch(dir);
      try {
        while (!existsSync(file)) await once(watcher, 'change');
      } finally {
        watcher.close();
      }
      return readFileSync(file, 'utf8');
    },
  };
}

test('flow = "auto" logs in in the browser where one can be opened: it opens the URL and says why', async () => {
  home.writeConfig({ desk: { issuer: idp.issuer, client_id: 'authd-native' } });
  const opener = fakeOpener();
  try {
    const env = plainEnv(home, { DISPLAY: ':0', PATH: `${opener.dir}:${process.env.PATH}` });
    const login = new Login(home, ['-p', 'desk'], env);
    await login.says(/\n {2}http\S+\n/);
    expect(login.stderr.split('\n')[0]).toBe('Logging in to desk in your browser (a display is available)…');
    expect(login.stderr).toContain('If no browser window opens, open this URL:');
    const opened = await opener.opened();
    expect(login.stderr).toContain(`  ${opened}\n`);
    expect((await browse(opened)).body).toContain('Logged in to desk as alice');
    const { code, stderr } = await login.ended();
    expect(code).toBe(0);
    expect(stderr).toContain('✓ Logged in to desk as alice');
  } finally {
    rmSync(opener.dir, { recursive: true, force: true });
  }
});

/** Debian's headless Chromium: chromium-headless-shell, or chromium itself (its --headless); undefined if neither is installed. */
const CHROMIUM = ['chromium-headless-shell', 'chromium']
  .flatMap((name) => (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => join(dir, name)))
  .find((file) => existsSync(file));

/**
 * An `xdg-open` that is a real browser: headless Chromium loads the URL, follows the provider's pages
 * (which sign alice in by themselves) back to authd's listener, and prints the page it ends on. Its
 * profile and home are the directory's own. `finished` waits for Chromium to exit: the URL it was
 * given, its exit status, the page (its DOM) and what it printed on stderr.
 */
function chromiumOpener(chromium: string): { dir: string; finished: () => Promise<{ url: string; status: number; page: string; log: string }> } {
  const dir = mkdtempSync(join(tmpdir(), 'authd-chromium.'));
  // Chromium's sandbox refuses to start as root (the tests run as root), so it runs without it there.
  const sandbox = process.getuid?.() === 0 ? ' --no-sandbox' : '';
  writeFileSync(join(dir, 'xdg-open'), `#!/bin/sh
printf '%s' "$1" > "${dir}/url"
HOME="${dir}" "${chromium}" --headless${sandbox} --user-data-dir="${dir}/profile" --dump-dom "$1" > "${dir}/page.tmp" 2> "${dir}/chromium.log"
echo $? > "${dir}/status.tmp" && mv "${dir}/page.tmp" "${dir}/page" && mv "${dir}/status.tmp" "${dir}/status"
`);
  chmodSync(join(dir, 'xdg-open'), 0o755);
  return {
    dir,
    finished: async () => {
      const watcher = watch(dir);
      try {
        while (!existsSync(join(dir, 'status'))) await once(watcher, 'change');
      } finally {
        watcher.close();
      }
      const read = (name: string) => readFileSync(join(dir, name), 'utf8');
      return { url: read('url'), status: Number(read('status')), page: read('page'), log: read('chromium.log') };
    },
  };
}

test.skipIf(!CHROMIUM)(`a real browser: flow = "auto" on a desktop opens headless Chromium, which logs in at the provider and ends on authd's page${
  CHROMIUM ? '' : ' (skipped: neither chromium-headless-shell nor chromium is installed; .ci/run installs chromium-headless-shell)'}`, async () => {
  home.writeConfig({ chromium: { issuer: idp.issuer, client_id: 'authd-native' } });
  const browser = chromiumOpener(CHROMIUM!);
  try {
    const login = new Login(home, ['--json', '-p', 'chromium'], plainEnv(home, { DISPLAY: ':0', PATH: `${browser.dir}:${process.env.PATH}` }));
    // Chromium first: a page it stopped on short of authd's shows here, not as a login waiting 10 minutes.
    const chromium = await Promise.race([
      browser.finished(),
      login.exit.then((code) => (code === 0 ? browser.finished() : Promise.reject(new Error(`login exited ${code}: ${login.stderr}`)))),
    ]);
    expect(chromium.status, chromium.log).toBe(0);
    // The page Chromium ended on is authd's own plain success page (what the redirect to the listener got).
    expect(chromium.page).toContain('<title>authd: Logged in</title>');
    expect(chromium.page).toContain('Logged in to chromium as alice. You can close this tab.');
    expect(chromium.page).not.toMatch(/<script|src=|href=|url\(/i);

    const { code, stderr } = await login.ended();
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const { url, redirect_uri } = login.events[0] as { url: string; redirect_uri: string };
    expect(chromium.url).toBe(url);
    expect(login.events).toEqual([
      { event: 'authorization_url', profile: 'chromium', url, redirect_uri, expires_in: expect.any(Number), joined: false, replaces: null },
      { event: 'logged_in', profile: 'chromium', subject: 'alice' },
    ]);
    expect(await closed(redirect_uri)).toBe(true);

    const token = await getToken(home, 'chromium');
    expect(token.code).toBe(0);
    expect(await idp.introspect(token.token)).toMatchObject({ active: true, sub: 'alice', client_id: 'authd-native' });
  } finally {
    rmSync(browser.dir, { recursive: true, force: true });
  }
});

test('--no-browser on a desktop: flow = "auto" logs in with a one-time code, says why, and opens no browser', async () => {
  // The provider has an authorization endpoint and there is a display and an opener: without the
  // flag this login would be in the browser (the test above); on a terminal the device flow would open its URL.
  home.writeConfig({ nobrowser: { issuer: idp.issuer, client_id: 'authd-cli', device_poll_interval: 0.05 } });
  const opener = fakeOpener();
  try {
    const env = plainEnv(home, { DISPLAY: ':0', PATH: `${opener.dir}:${process.env.PATH}` });
    const login = onTerminal(`${AUTHD} login -p nobrowser --no-browser`, { env });
    await login.printed('Waiting for approval… ');
    expect(login.output.split('\r\n')[0]).toBe('Logging in to nobrowser with a one-time code (--no-browser)…');
    expect(login.output).not.toContain('opening it in your browser');
    await approveDeviceCode(/open (http\S+user_code=\S+)/.exec(login.output)![1]!);
    expect(await login.exited).toBe(0);
    expect(login.output).toContain('✓ Logged in to nobrowser as alice');
    home.stderrs.push(login.output);
    expect(existsSync(join(opener.dir, 'opened'))).toBe(false);
    expect((await getToken(home, 'nobrowser')).code).toBe(0);

    // The same terminal and environment without --no-browser: the opener is there and is used.
    const shown = onTerminal(`${AUTHD} login -p nobrowser --device`, { env });
    await shown.printed('(opening it in your browser)');
    expect(await opener.opened()).toBe(/open (http\S+user_code=\S+)/.exec(shown.output)![1]);
    await shown.interrupt();
  } finally {
    rmSync(opener.dir, { recursive: true, force: true });
  }
});

test('flow = "auto" without a display, or over SSH without one, logs in with a one-time code and says why', async () => {
  home.writeConfig({ headless: { issuer: idp.issuer, client_id: 'authd-cli', device_poll_interval: 0.05 } });
  for (const [env, why] of [[{}, 'no display'], [{ SSH_CONNECTION: '10.0.0.1 50000 10.0.0.2 22' }, 'no display: SSH session']] as const) {
    await home.run(['logout', '-p', 'headless']);
    const login = new Login(home, ['-p', 'headless'], plainEnv(home, env));
    const [, url] = await login.says(/open (http\S+user_code=\S+)/);
    expect(login.stderr.split('\n')[0]).toBe(`Logging in to headless with a one-time code (${why})…`);
    await approveDeviceCode(url!);
    expect((await login.ended()).code).toBe(0);
    expect((await getToken(home, 'headless')).code).toBe(0);
  }
});

test('flow = "auto" uses the device flow when the provider has no authorization endpoint, even with a display', async () => {
  home.writeConfig({
    nocode: {
      issuer: idp.issuer, token_endpoint: `${idp.issuer}/token`, device_authorization_endpoint: `${idp.issuer}/device/auth`,
      client_id: 'authd-cli', device_poll_interval: 0.05,
    },
  });
  const login = new Login(home, ['-p', 'nocode', '--no-browser'], plainEnv(home, { DISPLAY: ':0' }));
  await login.says(/open http\S+user_code=\S+/);
  // --no-browser: it would not have opened one anyway; without it, the provider decides.
  expect(login.stderr.split('\n')[0]).toBe('Logging in to nocode with a one-time code (--no-browser)…');
  login.child.kill('SIGINT');
  await login.ended();
  const shown = new Login(home, ['-p', 'nocode'], plainEnv(home, { DISPLAY: ':0' }));
  const [, url] = await shown.says(/open (http\S+user_code=\S+)/);
  expect(shown.stderr.split('\n')[0]).toBe('Logging in to nocode with a one-time code (the provider has no authorization endpoint)…');
  await approveDeviceCode(url!);
  expect((await shown.ended()).code).toBe(0);
});

test('flow = "auto" gives a client that sends no browser hint (an older authd) the device flow it can show', async () => {
  home.writeConfig({ old: { issuer: idp.issuer, client_id: 'authd-cli' } });
  await home.run(['daemon', 'start']);
  const socket = net.connect(home.socket);
  socket.write(`${JSON.stringify({ v: 1, id: 1, method: 'loginStart', params: { profile: 'old' } })}\n`);
  const [line] = (await once(socket, 'data')) as [Buffer];
  socket.destroy(); // the only waiter: the login ends with it
  const answer = JSON.parse(line.toString()) as { result: Record<string, unknown> };
  expect(answer.result).toMatchObject({ profile: 'old', status: 'pending', device: { user_code: expect.any(String) } });
  expect(answer.result).not.toHaveProperty('browser');
});

test('--web and --device force a flow; together, or on a service profile, they are usage errors', async () => {
  home.writeConfig({
    both: { issuer: idp.issuer, client_id: 'authd-cli', device_poll_interval: 0.05 },
    nat: { issuer: idp.issuer, client_id: 'authd-native' },
    ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' },
  });
  const device = new Login(home, ['--json', '--device', '-p', 'both'], plainEnv(home, { DISPLAY: ':0', AUTHD_NO_BROWSER: '1' }));
  await device.event('device_code');
  device.child.kill('SIGINT');
  await device.ended();

  // No display here: --web all the same; the URL is printed for a browser on this machine.
  const web = new Login(home, ['--json', '--web', '-p', 'nat']);
  const { url } = await web.authorizationUrl();
  expect((await browse(url)).status).toBe(200);
  expect((await web.ended()).code).toBe(0);

  const both = await home.run(['login', '--web', '--device', '-p', 'nat']);
  expect(both.code).toBe(2);
  expect(both.stderr).toContain('--web and --device cannot be used together');
  const service = await home.run(['login', '--web', '-p', 'ci'], { env: { SVC_SECRET: 'svc-secret' } });
  expect(service.code).toBe(2);
  expect(service.stderr).toContain('profile ci uses the client_credentials flow');
});
