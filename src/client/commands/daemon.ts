import { spawn } from 'node:child_process';
import { AuthdError, resolvePaths } from '../../protocol/index.js';
import { Connection, connect, connectOnce, daemonArgs } from '../connection.js';
import { daemonEnv } from '../daemon-env.js';
import type { IO } from '../io.js';

export type DaemonAction = 'run' | 'start' | 'stop' | 'status';

export async function run(opts: { action: DaemonAction }, io: IO): Promise<number> {
  const paths = resolvePaths(io.env);
  switch (opts.action) {
    case 'run': {
      // Foreground, for systemd --user / launchd: become the daemon process's parent and wait.
      const child = spawn(process.execPath, daemonArgs(false), { stdio: 'inherit', env: daemonEnv(io.env) });
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
      return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
    }
    case 'start': {
      // An explicit request: start it even at an explicit AUTHD_SOCKET or with AUTHD_NO_AUTOSTART=1.
      const conn = await connect({ env: io.env, paths, start: 'requested' });
      const r = await conn.request('ping', {});
      conn.close();
      io.stderr.write(`authd daemon running, pid ${r.pid}, socket ${r.socket}\n`);
      return 0;
    }
    case 'stop': {
      let conn: Connection;
      try {
        conn = new Connection(await connectOnce(paths.socket));
      } catch {
        io.stderr.write(`authd daemon is not running (socket ${paths.socket})\n`);
        return 0;
      }
      const r = await conn.request('shutdown', {});
      await waitGone(paths.socket);
      conn.close();
      io.stderr.write(`authd daemon stopped (pid ${r.pid})\n`);
      return 0;
    }
    case 'status': {
      try {
        const conn = new Connection(await connectOnce(paths.socket));
        const r = await conn.request('ping', {});
        conn.close();
        io.stdout.write(`running pid ${r.pid} version ${r.version}\nsocket ${r.socket}\n`);
        return 0;
      } catch {
        io.stdout.write(`not running\nsocket ${paths.socket}\n`);
        return 5;
      }
    }
    default:
      throw new AuthdError('usage', `unknown daemon action ${String(opts.action)}`, 'authd daemon run|start|stop|status');
  }
}

async function waitGone(socket: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      (await connectOnce(socket)).destroy();
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
