// A local issuer of subject tokens, playing a CI platform or a Kubernetes cluster: an RSA key pair
// (node:crypto), JWTs signed RS256, and a GitHub-Actions-like ID token endpoint on 127.0.0.1 that
// checks the bearer request token and answers {"value": jwt} for the audience asked.
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Claims {
  sub: string;
  aud: string | string[];
  /** Unix seconds; default 5 minutes from now */
  exp?: number;
  [claim: string]: unknown;
}

export interface SubjectIssuer {
  /** http://127.0.0.1:PORT, the `iss` of its tokens */
  readonly issuer: string;
  /** its public key, as a provider trusting it is given it */
  readonly jwks: { keys: Record<string, unknown>[] };
  /** A JWT for `claims`; `foreignKey`: signed with a key that is not in `jwks` (same kid). */
  sign(claims: Claims, opts?: { foreignKey?: boolean }): string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL: carries a query already, as GitHub's does */
  readonly requestUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN */
  readonly requestToken: string;
  /** the `sub` of the tokens its ID token endpoint hands out */
  readonly ciSubject: string;
  /** every request to its ID token endpoint: the audience asked, and whether the bearer was right */
  readonly requests: { audience: string | null; authorized: boolean }[];
  /** every JWT it signed */
  readonly issued: Set<string>;
  close(): Promise<void>;
}

const KID = 'subject-key-1';

function rsaKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

export async function startSubjectIssuer(): Promise<SubjectIssuer> {
  const own = rsaKey();
  const foreign = rsaKey();
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const requestToken = `ghs-request-${randomBytes(24).toString('hex')}`;
  const ciSubject = 'repo:acme/app:ref:refs/heads/main';
  const requests: SubjectIssuer['requests'] = [];
  const issued = new Set<string>();

  const signJwt = (claims: Claims, opts: { foreignKey?: boolean } = {}): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', kid: KID };
    const payload = { iss: issuer, iat: now, nbf: now - 5, exp: now + 300, jti: randomBytes(8).toString('hex'), ...claims };
    const input = `${b64(header)}.${b64(payload)}`;
    const jwt = `${input}.${sign('sha256', Buffer.from(input), (opts.foreignKey ? foreign : own).privateKey).toString('base64url')}`;
    issued.add(jwt);
    return jwt;
  };

  server.on('request', (req, res) => {
    res.setHeader('connection', 'close');
    const url = new URL(req.url ?? '/', issuer);
    if (req.method !== 'GET' || url.pathname !== '/idtoken') {
      res.writeHead(404).end();
      return;
    }
    const authorized = req.headers.authorization === `bearer ${requestToken}` || req.headers.authorization === `Bearer ${requestToken}`;
    const audience = url.searchParams.get('audience');
    requests.push({ audience, authorized });
    if (!authorized || url.searchParams.get('api-version') !== '2.0') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Bad credentials"}');
      return;
    }
    const value = signJwt({ sub: ciSubject, aud: audience ?? 'https://github.com/acme', repository: 'acme/app' });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value }));
  });

  const jwk = own.publicKey.export({ format: 'jwk' });
  return {
    issuer,
    jwks: { keys: [{ ...jwk, kid: KID, alg: 'RS256', use: 'sig' }] },
    sign: signJwt,
    requestUrl: `${issuer}/idtoken?api-version=2.0`,
    requestToken,
    ciSubject,
    requests,
    issued,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
