#!/usr/bin/env node
// A real local OpenID provider (oidc-provider 9) on 127.0.0.1 for tests and the demo.
// Import it (`startIdp`, `approveDeviceCode`, `denyDeviceCode`) or run it to try authd by hand:
//   node scripts/dev-idp.mjs [--port N] [--ttl SECONDS]   (prints what to paste and how to log in)
// Derived from the verified idp-demo.mjs in shared/research.
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// oidc-provider prints a few fixed warnings that say nothing about a dev IdP: Node 20 is
// "unsupported" (everything we use works), and the in-memory adapter and generated keys
// are development-only (that is the point here). Drop exactly those lines, nothing else.
// On a terminal it wraps each line in colour codes, so they are matched without them.
const NOISE = [/^oidc-provider WARNING: (Unsupported runtime|a quick start development-only|quick start development-only)/];
const COLOUR = /\x1b\[[\d;]*m/g;

async function withoutNoise(fn) {
  const { warn, info } = console;
  const isNoise = (line) => typeof line === 'string' && NOISE.some((re) => re.test(line.replace(COLOUR, '')));
  const filter =
    (write) =>
    (...args) => {
      if (!isNoise(args[0])) write.apply(console, args);
    };
  console.warn = filter(warn);
  console.info = filter(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

// The runtime warning is printed while the module is evaluated, so import it lazily.
const { default: Provider, errors } = await withoutNoise(() => import('oidc-provider'));
// The signing key oidc-provider uses when given none (one RS256 key), given explicitly so that a test
// can sign an ID token with the provider's own key (Idp.signJwt): one whose claims are wrong, not its signature.
const { default: DEV_KEYS } = await import('oidc-provider/lib/consts/dev_keystore.js');
const SIGNING_KEY = DEV_KEYS.keys[0];

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** What the `workload` client's subject tokens must be issued for, unless a trusted issuer says otherwise. */
export const WORKLOAD_AUDIENCE = 'dev-idp-workload';
const TOKEN_PATH = '/token'; // oidc-provider's default route
const SVC_BASIC = `Basic ${Buffer.from('svc:svc-secret').toString('base64')}`;

export async function startIdp({ port = 0, accessTokenTtl = 2, idTokenTtl = 60, account = 'alice', jwks, subjectIssuers = [] } = {}) {
  const host = '127.0.0.1';
  const server = http.createServer();
  server.listen(port, host);
  await once(server, 'listening');
  port = server.address().port;
  const issuer = `http://${host}:${port}`;

  const provider = await withoutNoise(
    () =>
      new Provider(issuer, {
        clients: [
          {
            client_id: 'authd-cli',
            token_endpoint_auth_method: 'none',
            grant_types: [DEVICE_GRANT, 'refresh_token'],
            response_types: [],
            redirect_uris: [],
          },
          {
            // authorization code + PKCE; native + loopback means any port matches
            client_id: 'authd-native',
            application_type: 'native',
            token_endpoint_auth_method: 'none',
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            redirect_uris: ['http://127.0.0.1/callback'],
          },
          {
            // an installed app whose "secret" is not one (as Google's): device flow, the secret in the body
            client_id: 'authd-installed',
            client_secret: 'installed-not-secret',
            token_endpoint_auth_method: 'client_secret_post',
            grant_types: [DEVICE_GRANT, 'refresh_token'],
            response_types: [],
            redirect_uris: [],
          },
          {
            // oidc-provider accepts client_secret_post as well for a client_secret_basic client
            client_id: 'svc',
            client_secret: 'svc-secret',
            token_endpoint_auth_method: 'client_secret_basic',
            grant_types: ['client_credentials'],
            response_types: [],
            redirect_uris: [],
            scope: 'api:read',
          },
          {
            // `-` in id and secret: a provider decoding Basic as RFC 6749 §2.3.1 says must get them unescaped
            client_id: 'build-bot',
            client_secret: 'bot-secret-123',
            token_endpoint_auth_method: 'client_secret_basic',
            grant_types: ['client_credentials'],
            response_types: [],
            redirect_uris: [],
            scope: 'api:read',
          },
          {
            // a workload with no secret: trades a subject token from a trusted issuer (subjectIssuers)
            client_id: 'workload',
            token_endpoint_auth_method: 'none',
            grant_types: [TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT],
            response_types: [],
            redirect_uris: [],
            scope: 'api:read api:write',
          },
          // private_key_jwt: no shared secret; the public half of a test key pair, when given
          ...(jwks
            ? [{
                client_id: 'svc-jwt',
                token_endpoint_auth_method: 'private_key_jwt',
                token_endpoint_auth_signing_alg: jwks.keys[0].alg,
                jwks,
                grant_types: ['client_credentials'],
                response_types: [],
                redirect_uris: [],
                scope: 'api:read',
              }]
            : []),
        ],
        scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
        jwks: { keys: [structuredClone(SIGNING_KEY)] },
        features: {
          // RFC 8707: a login may ask for resources under ${issuer}/api/ (scopes api:read, api:write); a
          // refresh may then name one. A refresh naming none gets no resource, however many were granted.
          resourceIndicators: {
            enabled: true,
            defaultResource: () => undefined,
            useGrantedResource: () => false,
            getResourceServerInfo: (_ctx, resource) => {
              if (!resource.startsWith(`${issuer}/api/`)) throw new errors.InvalidTarget();
              return { scope: 'api:read api:write', accessTokenFormat: 'opaque', audience: resource };
            },
          },
          devInteractions: { enabled: false }, // the middleware below plays the user
          deviceFlow: { enabled: true, ...devicePages(account) },
          clientCredentials: { enabled: true },
          // Same rules as the defaults; supplying them silences a "you SHOULD change" notice.
          introspection: {
            enabled: true,
            allowedPolicy: (_ctx, client, token) => client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
          },
          revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
        },
        ttl: {
          AccessToken: accessTokenTtl,
          ClientCredentials: accessTokenTtl,
          DeviceCode: 600,
          RefreshToken: 3600,
          IdToken: idTokenTtl,
          Grant: 3600,
          Interaction: 600,
          Session: 3600,
        },
        // Always rotate, so that reusing a refresh token is detectable (and revokes the grant).
        rotateRefreshToken: true,
        async findAccount(_ctx, sub) {
          return { accountId: sub, claims: async () => ({ sub }) };
        },
        cookies: { keys: ['dev-idp-cookie-key'] },
      }),
  );

  // RFC 8693 and RFC 7523 §2.1: the subject token is checked (signature, issuer, audience, expiry) and
  // the access token is the subject's. Registered after construction: static clients are checked when used.
  const workloadGrant = (kind, tokenParam) => async (ctx) => {
    const { params, client } = ctx.oidc;
    if (kind === 'tokenExchanges' && params.subject_token_type !== JWT_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${JWT_TOKEN_TYPE}`);
    }
    const claims = verifySubjectToken(params[tokenParam], subjectIssuers, kind === 'tokenExchanges' ? 'invalid_request' : 'invalid_grant');
    const allowed = new Set((client.scope ?? '').split(' '));
    const requested = (params.scope ?? '').split(' ').filter(Boolean);
    const refused = requested.find((s) => !allowed.has(s));
    if (refused) throw new errors.InvalidScope('requested scope is not allowed', refused);
    const token = new provider.AccessToken({ accountId: claims.sub, client, scope: requested.join(' ') || undefined, gty: kind });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    stats[kind]++;
    subjects.push(claims.sub);
    ctx.body = {
      access_token: value,
      token_type: token.tokenType,
      expires_in: token.expiration,
      ...(token.scope ? { scope: token.scope } : {}),
      ...(kind === 'tokenExchanges' ? { issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' } : {}),
    };
  };
  const workloadParams = ['scope', 'audience', 'resource'];
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, workloadGrant('tokenExchanges', 'subject_token'),
    [...workloadParams, 'subject_token', 'subject_token_type', 'requested_token_type'], ['audience', 'resource']);
  provider.registerGrantType(JWT_BEARER_GRANT, workloadGrant('jwtBearers', 'assertion'), [...workloadParams, 'assertion'], ['audience', 'resource']);
  /** The `sub` of every subject token exchanged, in order. */
  const subjects = [];

  const stats = {
    refreshes: 0, deviceGrants: 0, clientCredentials: 0, revokedGrants: 0, reuseDetected: 0, tokenRequests: 0, tokenExchanges: 0, jwtBearers: 0,
  };
  const events = [];
  const issued = new Set();
  const grants = new Map(); // grantId -> accountId, so tests can kill a session they hold no token for
  // Every answer of the token endpoint that consumed or issued a refresh token, in order, with the
  // time it was answered: the chain of rotations a crash test compares a store against.
  const rotations = [];
  const rotationWatchers = new Set();

  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type;
    events.push(`grant.success ${type}`);
    if (type === 'refresh_token') stats.refreshes++;
    else if (type === DEVICE_GRANT) stats.deviceGrants++;
    else if (type === 'client_credentials') stats.clientCredentials++;
    const grant = ctx.oidc.entities.Grant;
    if (grant) grants.set(grant.jti, grant.accountId);
  });
  provider.on('grant.revoked', (_ctx, grantId) => {
    stats.revokedGrants++;
    events.push(`grant.revoked ${grantId}`);
  });
  provider.on('grant.error', (_ctx, err) => {
    // A rotated refresh token presented again: the provider revokes the whole grant.
    if (err.error_detail === 'refresh token already used') stats.reuseDetected++;
    events.push(`grant.error ${err.error}: ${err.error_detail ?? err.error_description}`);
  });

  // Record every token the provider hands out, from the response body itself.
  provider.use(async (ctx, next) => {
    const received = Date.now();
    try {
      await next();
    } finally {
      if (ctx.method === 'POST' && ctx.path === TOKEN_PATH) stats.tokenRequests++;
      const body = ctx.body;
      if (body && typeof body === 'object' && !Buffer.isBuffer(body)) {
        for (const key of ['access_token', 'refresh_token', 'id_token']) {
          if (typeof body[key] === 'string') issued.add(body[key]);
        }
        const presented = ctx.method === 'POST' && ctx.path === TOKEN_PATH ? ctx.oidc?.params?.refresh_token : undefined;
        if (typeof presented === 'string' || typeof body.refresh_token === 'string') {
          const rotation = { received, at: Date.now(), grantType: String(ctx.oidc?.params?.grant_type) };
          if (typeof presented === 'string') rotation.presented = presented;
          if (typeof body.refresh_token === 'string') rotation.issued = body.refresh_token;
          if (typeof body.access_token === 'string') rotation.accessToken = body.access_token;
          if (typeof body.error === 'string') rotation.error = body.error;
          rotations.push(rotation);
          for (const watch of rotationWatchers) watch(rotation);
        }
      }
    }
  });

  // Headless user: complete login and consent for `account` on every interaction.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'GET' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, session } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: account } };
    } else if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      grants.set(grantId, grant.accountId); // known even before the device polls for its tokens
      result = { consent: { grantId } };
    } else {
      throw new Error(`dev-idp: unexpected prompt ${prompt.name}`);
    }
    // interactionFinished writes the redirect itself; Koa must not respond again.
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.respond = false;
  });

  // No keep-alive: every request opens a connection, so after stop() a client reliably gets
  // ECONNREFUSED rather than a reset on a pooled socket it had not yet seen closing.
  server.on('request', (_req, res) => res.setHeader('connection', 'close'));
  // A test may answer a request itself first (test/support/provider-behaviour.ts: other providers' ways).
  let intercept;
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (!intercept?.(req, res, () => callback(req, res))) callback(req, res);
  });

  // Straight through the models, so it also works while the listener is stopped.
  async function revokeGrant(grantId) {
    await provider.AccessToken.revokeByGrantId(grantId);
    await provider.RefreshToken.revokeByGrantId(grantId);
    await (await provider.Grant.find(grantId))?.destroy();
    grants.delete(grantId);
  }

  async function stop() {
    if (!server.listening) return;
    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections(); // don't wait for in-flight clients (device polls) to go away
    await closed;
  }

  return {
    issuer,
    provider,
    port,
    stats,
    events,
    issued,
    rotations,
    subjects,

    onRotation(watch) {
      rotationWatchers.add(watch);
      return () => rotationWatchers.delete(watch);
    },

    async introspect(token) {
      const res = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: SVC_BASIC },
        body: new URLSearchParams({ token }),
      });
      if (!res.ok) throw new Error(`introspection failed: HTTP ${res.status}`);
      return res.json();
    },

    /** Revokes the grant behind a refresh token. Resolves to false if the provider doesn't know it. */
    async revokeRefreshToken(refreshToken) {
      const rt = await provider.RefreshToken.find(refreshToken, { ignoreExpiration: true });
      if (!rt) return false;
      await revokeGrant(rt.grantId);
      return true;
    },

    /** Revokes every grant (and so every access and refresh token) of an account; returns how many. */
    async revokeGrantsFor(accountId) {
      const ids = [...grants].filter(([, owner]) => owner === accountId).map(([id]) => id);
      for (const id of ids) await revokeGrant(id);
      return ids.length;
    },

    /** Provider down: clients get ECONNREFUSED. State (grants, tokens) is kept. */
    stop,

    /** Provider back, on the same port. */
    async start() {
      if (server.listening) return;
      server.listen(port, host);
      await once(server, 'listening');
    },

    /** `handler(req, res, pass)` sees every request first; true means it answers (or calls pass() later). undefined removes it. */
    intercept(handler) {
      intercept = handler;
    },

    /** A JWT signed (RS256) with the key the provider signs its ID tokens with; `header` adds to {alg, kid}. */
    signJwt(payload, header = {}) {
      const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const signed = `${part({ ...header, alg: 'RS256', kid: SIGNING_KEY.kid })}.${part(payload)}`;
      const key = createPrivateKey({ key: SIGNING_KEY, format: 'jwk' });
      return `${signed}.${sign('sha256', Buffer.from(signed), key).toString('base64url')}`;
    },

    close: stop, // nothing else to release: the provider holds no timers or files
  };
}

/**
 * A subject token's claims, once its signature (RS256 or ES256, by a key of a trusted issuer's JWKS),
 * issuer, audience, expiry and subject are good; else the OAuth error `code` saying which is not.
 */
function verifySubjectToken(jwt, trusted, code) {
  const refuse = (why) => new errors.CustomOIDCProviderError(code, why);
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3) throw refuse('subject token is not a signed JWT');
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw refuse('subject token is not a signed JWT');
  }
  const issuer = trusted.find((t) => t.issuer === claims.iss);
  if (!issuer) throw refuse('subject token issuer is not trusted');
  const keys = issuer.jwks.keys.filter((k) => header.kid === undefined || k.kid === header.kid);
  const kty = { RS256: 'RSA', ES256: 'EC' }[header.alg];
  const jwk = keys.find((k) => k.kty === kty);
  if (!jwk) throw refuse('subject token is signed with no key of its issuer');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const good = verify('sha256', signed, { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
  if (!good) throw refuse('subject token signature is invalid');
  const audience = issuer.audience ?? WORKLOAD_AUDIENCE;
  if (!(Array.isArray(claims.aud) ? claims.aud : [claims.aud]).includes(audience)) throw refuse(`subject token audience is not ${audience}`);
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp <= now) throw refuse('subject token has expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + 5) throw refuse('subject token is not valid yet');
  if (typeof claims.sub !== 'string' || !claims.sub) throw refuse('subject token has no subject');
  return claims;
}

// Plain pages instead of the defaults, which print a "you SHOULD change" notice when first used.
// They say who the user will be: there is no login page, the middleware above signs in `account`.
function devicePages(account) {
  return {
    async userCodeInputSource(ctx, form, _out, err) {
      const msg = err ? `Could not continue (${err.name}).` : 'Enter the code displayed on your device.';
      ctx.body = `<!DOCTYPE html><title>Sign-in</title><h1>Sign-in</h1><p>${msg}</p>${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`;
    },
    async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
      ctx.body = `<!DOCTYPE html><title>Confirm device</title><h1>Confirm device</h1>
<p>Sign in to ${client.clientId} as the device showing <code>${userCode}</code>?</p>
<p>This development provider has no passwords: Continue signs you in as <b>${account}</b>.</p>${form}
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`;
    },
    async successSource(ctx) {
      ctx.body = `<!DOCTYPE html><title>Sign-in Success</title><h1>Sign-in Success</h1>
<p>Signed in as ${account}. You can close this page.</p>`;
    },
  };
}

// Minimal cookie-jar browser: follows redirects by hand so cookies set on a 303 are kept.
function browser() {
  const jar = new Map();
  return async function go(url, init = {}) {
    for (let hops = 0; hops < 10; hops++) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, cookie } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url);
        init = {};
        continue;
      }
      return { res, body: await res.text() };
    }
    throw new Error('dev-idp: too many redirects');
  };
}

// Drives the provider's own /device pages: GET the complete verification URI (a form_post
// page carrying xsrf + user_code), then POST it back with `decision` (confirm or abort).
async function answerDeviceCode(verificationUriComplete, decision) {
  const go = browser();
  const page = await go(verificationUriComplete);
  const form = Object.fromEntries(
    [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1], m[2]]),
  );
  if (!form.xsrf || !form.user_code) throw new Error(`dev-idp: no device form (HTTP ${page.res.status})`);
  return go(new URL('/device', verificationUriComplete), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form, [decision]: 'yes' }),
  });
}

export async function approveDeviceCode(verificationUriComplete) {
  const { res, body } = await answerDeviceCode(verificationUriComplete, 'confirm');
  if (res.status !== 200 || !body.includes('Sign-in Success')) {
    throw new Error(`dev-idp: device approval failed (HTTP ${res.status})`);
  }
}

export async function denyDeviceCode(verificationUriComplete) {
  await answerDeviceCode(verificationUriComplete, 'abort');
}

// ---------------------------------------------------------------- run directly
// A provider for trying authd by hand, with a throwaway authd home set up for it, and the
// steps of a login (which is not automatic: the user approves it in a browser).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, ttl: { type: 'string', default: '2' } } });
  const account = 'alice';
  const idp = await startIdp({ port: Number(values.port), accessTokenTtl: Number(values.ttl), account });
  const authdBin = fileURLToPath(new URL('../bin', import.meta.url));
  // Short: the daemon's socket goes in it, and a socket path must stay under 100 bytes.
  const home = mkdtempSync(join(tmpdir(), 'authd-dev.'));
  writeFileSync(
    join(home, 'config.toml'),
    `# Written by scripts/dev-idp.mjs, and removed with this directory when it stops.
default_profile = "dev"
store = "file"

[profiles.dev]
issuer = "${idp.issuer}"
client_id = "authd-cli"
flow = "device"
scopes = ["openid", "offline_access"]
device_poll_interval = 1
`,
  );

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    // The daemon a login started in the throwaway home would outlive it; stop it first.
    if (existsSync(join(home, 'run', 'authd.sock'))) {
      const env = { ...process.env, AUTHD_HOME: home };
      for (const k of Object.keys(env)) if (k.startsWith('AUTHD_') && k !== 'AUTHD_HOME') delete env[k];
      await new Promise((resolve) => execFile(join(authdBin, 'authd'), ['daemon', 'stop'], { env }, resolve));
    }
    rmSync(home, { recursive: true, force: true });
    await idp.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  process.once('SIGHUP', shutdown);

  const { port } = idp;
  console.log(`dev IdP: a local OpenID provider at ${idp.issuer}, for trying authd by hand.
Access tokens live ${values.ttl} s (--ttl SECONDS), so most \`authd get-token\` calls refresh.

1. In another terminal, paste this line: a throwaway authd home, already set up for this
   provider (profile "dev": ${join(home, 'config.toml')}), and this checkout's authd.

   export AUTHD_HOME=${shellQuote(home)} PATH=${shellQuote(authdBin)}:"$PATH"

2. Run \`authd login\`. It prints a one-time code and a URL, and waits for you to approve.
3. Open the URL that ends in ?user_code=… in a browser on this machine (on a desktop authd
   opens it for you; over SSH, forward the port first: ssh -L ${port}:127.0.0.1:${port} …).
   Check that the page shows the code authd printed, and press Continue.
4. There is no password: the dev IdP signs you in as "${account}" and says "Sign-in Success".
5. \`authd login\` says "Logged in to dev as ${account}". Now try \`authd get-token\`, \`authd status\`.

Ctrl-C here stops the provider, stops that authd's daemon and removes its home.`);
}

function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}
