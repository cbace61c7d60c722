// `authd get-token --format exec-credential` as kubectl's exec credential plugin: it answers in the
// ExecCredential version kubectl names in KUBERNETES_EXEC_INFO, since kubectl rejects any other.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { Home, type Result } from './support/harness.js';

const V1 = 'client.authentication.k8s.io/v1';
const V1BETA1 = 'client.authentication.k8s.io/v1beta1';

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 300 });
  home = new Home();
  home.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } },
    { default_profile: 'ci' });
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

/** What kubectl passes to the plugin (client-go encodes an ExecCredential of the kubeconfig's version). */
function execInfo(apiVersion: string): string {
  return JSON.stringify({ kind: 'ExecCredential', apiVersion, spec: { interactive: false } });
}

function getCredential(env: Record<string, string>): Promise<Result> {
  return home.run(['get-token', '--format', 'exec-credential'], { env: { SVC_SECRET: 'svc-secret', ...env } });
}

/** A successful answer: the ExecCredential, with a token the provider vouches for. */
async function credential(r: Result): Promise<{ apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } }> {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const cred = JSON.parse(r.stdout);
  expect(cred.kind).toBe('ExecCredential');
  expect(cred.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect((await idp.introspect(cred.status.token)).active).toBe(true);
  return cred;
}

test('kubectl 1.20, asking for v1beta1 in KUBERNETES_EXEC_INFO, gets a v1beta1 ExecCredential with a valid token', async () => {
  const cred = await credential(await getCredential({ KUBERNETES_EXEC_INFO: execInfo(V1BETA1) }));
  expect(cred.apiVersion).toBe(V1BETA1);
  expect(Object.keys(cred.status).sort()).toEqual(['expirationTimestamp', 'token']);
});

test('kubectl asking for v1 gets v1', async () => {
  expect((await credential(await getCredential({ KUBERNETES_EXEC_INFO: execInfo(V1) }))).apiVersion).toBe(V1);
});

test('without KUBERNETES_EXEC_INFO the ExecCredential is v1', async () => {
  expect((await credential(await getCredential({}))).apiVersion).toBe(V1);
});

test('a KUBERNETES_EXEC_INFO that is not an ExecCredential (bad JSON, no apiVersion) gets v1', async () => {
  for (const info of ['{"kind":"ExecCredential",', 'null', '{"kind":"ExecCredential"}']) {
    expect((await credential(await getCredential({ KUBERNETES_EXEC_INFO: info }))).apiVersion).toBe(V1);
  }
});

test('an ExecCredential version authd cannot speak (v1alpha1) is a usage error naming the fix, before any daemon is asked', async () => {
  const fresh = new Home();
  try {
    fresh.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } });
    const r = await fresh.run(['get-token', '--format', 'exec-credential'],
      { env: { SVC_SECRET: 'svc-secret', KUBERNETES_EXEC_INFO: execInfo('client.authentication.k8s.io/v1alpha1') } });
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('"client.authentication.k8s.io/v1alpha1", which authd does not speak');
    expect(r.stderr).toContain(`${V1} or ${V1BETA1}`);
    expect(r.code).toBe(2);
    expect((await fresh.run(['daemon', 'status'])).stdout).toMatch(/^not running/);
  } finally {
    await fresh.dispose();
  }
});

test('KUBERNETES_EXEC_INFO changes nothing for the other formats', async () => {
  const r = await home.run(['get-token', '--format', 'json'],
    { env: { SVC_SECRET: 'svc-secret', KUBERNETES_EXEC_INFO: execInfo('client.authentication.k8s.io/v1alpha1') } });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ profile: 'ci', token_type: expect.stringMatching(/^bearer$/i) });
});
