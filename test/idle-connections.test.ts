// Connections nobody uses: a program that makes an SDK client per request and never closes them
// used to fill the daemon's 4,096 connections, after which every command failed with "the daemon
// closed the connection". Idle connections now time out, and at the limit the longest-idle one
// makes room for the newcomer; an SDK client whose connection was closed reconnects by itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { expect, onTestFinished, test } from 'vitest';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import { approveDeviceCode, type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, Home, readEvents } from './support/harness.js';

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };

async function loggedIn(env: Record<string, string> = {}): Promise<{ idp: Idp; home: Home }> {
  const idp = await startIdp({ accessTokenTtl: 600 });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme', store: 'file' });
  // The command that starts the daemon hands it AUTHD_IDLE_TIMEOUT_MS.
  expect((await home.run(['daemon', 'start'], { env })).code).toBe(0);
  await home.login();
  return { idp, home };
}

/** A connection that says nothing, and notes when the daemon closes it. */
async function idle(socketPath: string): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  let socket: net.Socket;
  for (let attempt = 0; ; attempt++) {
    socket = net.connect(socketPath);
    try {
      await once(socket, 'connect');
      break;
    } catch (err) {
      // A full accept queue (the daemon is busy accepting the others): the kernel says try again.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 100) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  onTestFinished(() => {
    socket.destroy();
  });
  return { socket, closed };
}

function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);
}

test('4,100 idle connections do not lock out get-token: the longest-idle ones are closed to let new ones in', async () => {
  const { idp, home } = await loggedIn();
  const conns: Awaited<ReturnType<typeof idle>>[] = [];
  for (let i = 0; i < 4100; i += 100) conns.push(...(await Promise.all(Array.from({ length: 100 }, () => idle(home.socket)))));

  const r = await home.run(['get-token']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).active).toBe(true);
  // The first ones made room (for the 4 over the limit, and for get-token's own connection); the newest still work.
  await within(5000, Promise.all(conns.slice(0, 5).map((c) => c.closed)));
  expect(conns.at(-1)!.socket.destroyed).toBe(false);
  const newest = conns.at(-1)!.socket;
  newest.write(`${JSON.stringify({ v: 1, id: 1, method: 'ping', params: {} })}\n`);
  const [answer] = (await once(newest, 'data')) as [Buffer];
  expect(JSON.parse(answer.toString()).result.pid).toBe(home.daemonPid());
});

test('an SDK client whose connection the daemon closed for idleness gets its next token without noticing', async () => {
  const { idp, home } = await loggedIn({ AUTHD_IDLE_TIMEOUT_MS: '500' });
  const sdk = new AuthdClient({ env: home.env });
  onTestFinished(() => sdk.close());
  const first = await sdk.getToken();
  // A connection opened after the SDK's last request: once the daemon has closed this one, it has
  // closed the SDK's too (idle for longer).
  const witness = await idle(home.socket);
  await within(5000, witness.closed);
  const next = await sdk.getToken();
  expect(next.access_token).toBe(first.access_token);
  expect((await idp.introspect(next.access_token)).active).toBe(true);
});

test('a connection with a request waiting (a login waiting for approval) is never closed as idle', async () => {
  const { idp, home } = await loggedIn({ AUTHD_IDLE_TIMEOUT_MS: '300' });
  const login = spawn(AUTHD, ['login', '--json'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const events = await readEvents(login, async (ev) => {
    if (ev.event !== 'device_code') return;
    // Five times the idle timeout before the user approves.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await approveDeviceCode(String(ev.verification_uri_complete));
  });
  expect(events.at(-1)).toMatchObject({ event: 'logged_in', subject: 'alice' });
  expect(idp.stats.deviceGrants).toBe(2);
});
