// A git smart-HTTP server for tests: demands Basic (or Bearer) auth, checks the password by
// introspection at the test provider, and hands the request to the real `git http-backend` (CGI).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Idp } from '../../scripts/dev-idp.mjs';

export interface GitServer {
  url: string;
  /** Every token a request authenticated with, in order (accepted or not). */
  tokens: string[];
  /** Usernames sent with Basic auth. */
  usernames: string[];
  /** The Authorization scheme of every request ('' for none), in order. */
  schemes: string[];
  /** Answer the next N authenticated requests with 401 even if the token is valid. */
  rejectNext(n: number): void;
  close(): Promise<void>;
}

const BACKEND = '/usr/lib/git-core/git-http-backend';

export async function startGitServer(idp: Idp, projectRoot: string): Promise<GitServer> {
  const tokens: string[] = [];
  const usernames: string[] = [];
  const schemes: string[] = [];
  let rejecting = 0;
  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [scheme, value] = (req.headers.authorization ?? '').split(' ');
    let token: string | undefined;
    let user = 'oauth2';
    schemes.push(req.headers.authorization ? scheme! : '');
    if (scheme === 'Basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      user = decoded.slice(0, colon);
      token = decoded.slice(colon + 1);
      usernames.push(user);
    } else if (scheme === 'Bearer' && value) {
      token = value;
    }
    if (token) tokens.push(token);
    const active = token ? (await idp.introspect(token)).active === true : false;
    if (!active || rejecting > 0) {
      if (active) rejecting--;
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="authd-test"' });
      res.end('authentication required\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn(BACKEND, [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const v = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else res.setHeader(name, v);
      }
      res.statusCode = status;
      res.write(head.subarray(end + 4));
    });
    await once(cgi, 'close');
    res.end();
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tokens,
    usernames,
    schemes,
    rejectNext: (n) => {
      rejecting = n;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
