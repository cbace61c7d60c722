// What `authd login` (and the commands around it) tell a user: a provider that cannot be reached,
// named with the request, the URL and the cause.
import { createServer } from 'node:net';
import { describe, expect, onTestFinished, test } from 'vitest';
import { Home } from './support/harness.js';

/** A port on 127.0.0.1 nobody listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function homeWith(profiles: Parameters<Home['writeConfig']>[0]): Home {
  const home = new Home();
  onTestFinished(() => home.dispose());
  home.writeConfig(profiles);
  return home;
}

describe('a provider that cannot be reached', () => {
  test('login to an issuer nobody listens on names the discovery URL and "connection refused", and says to run login again', async () => {
    const port = await closedPort();
    const home = homeWith({ acme: { issuer: `http://127.0.0.1:${port}/realms/dev`, client_id: 'authd-cli', flow: 'device' } });
    const r = await home.run(['login', '-p', 'acme']);
    expect(r.code).toBe(4);
    const [message, hint, ...more] = r.stderr.trimEnd().split('\n');
    expect(more).toEqual([]);
    expect(message).toBe(
      `authd: cannot reach the provider for the discovery request to http://127.0.0.1:${port}/realms/dev/.well-known/openid-configuration: connection refused`);
    expect(hint).toBe(`  check that the provider is running at http://127.0.0.1:${port}, and the issuer URL of profile acme; then run \`authd login -p acme\` again`);
    // Nothing retries a login.
    expect(r.stderr).not.toMatch(/retries/);
  });

  test('login to an issuer whose name does not resolve names the host, the URL and the cause', async () => {
    const home = homeWith({ acme: { issuer: 'https://authd-test.invalid', client_id: 'authd-cli', flow: 'device' } });
    const r = await home.run(['login', '-p', 'acme']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(
      '^authd: cannot reach the provider for the discovery request to https://authd-test\\.invalid/\\.well-known/openid-configuration: '
      + 'the name authd-test\\.invalid could not be resolved \\((ENOTFOUND|EAI_AGAIN)\\)\n'
      + '  check that authd-test\\.invalid is spelled right in profile acme, and your network and DNS; then run `authd login -p acme` again\n$'));

    // doctor says the same, with the fix on its own line.
    const doctor = await home.run(['doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/\n✗ profile acme: cannot reach the provider for the discovery request to https:\/\/authd-test\.invalid\/\.well-known\/openid-configuration: the name authd-test\.invalid could not be resolved/);
    expect(doctor.stdout).toContain('\n    fix: check that authd-test.invalid is spelled right in profile acme, and your network and DNS\n');
  });

  test('a token request to a closed port names the endpoint without its query, and the cause; get-token does not claim a retry', async () => {
    const port = await closedPort();
    const home = homeWith({
      ci: { token_endpoint: `http://127.0.0.1:${port}/oauth/token?tenant=s3cr3t-tenant`, client_id: 'svc', flow: 'client_credentials' },
    });
    expect((await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' })).code).toBe(0);
    for (const argv of [['login', '-p', 'ci'], ['get-token', '-p', 'ci']]) {
      const r = await home.run(argv);
      expect(r.code, argv.join(' ')).toBe(4);
      expect(r.stderr, argv.join(' ')).toContain(
        `authd: cannot reach the provider for the client credentials request to http://127.0.0.1:${port}/oauth/token: connection refused\n`);
      expect(r.stderr).not.toContain('s3cr3t');
      expect(r.stderr).not.toMatch(/retries/);
    }
  });
});
