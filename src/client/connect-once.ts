// One connection to a daemon's socket, as the client trusts it: the socket's directory checked before
// connecting, the peer (by its uid) once connected, before anything is sent (trust.ts).
import type { Socket } from 'node:net';
import { socketFd } from '../native/peercred.js';
import { checkDaemonPeer, checkSocketDir } from './trust.js';

/** `explicit`: the user chose the path (AUTHD_SOCKET), which changes what a refusal advises. */
export function connectOnce(path: string, explicit = false): Promise<Socket> {
  // Loaded here, not imported: get-token's fast path and git's helper, which import this file, load
  // node:net (~2 ms with its streams) only where Node has no pipe handle to lend (one-request.ts).
  const net = process.getBuiltinModule('node:net');
  return new Promise((resolve, reject) => {
    checkSocketDir(path, explicit);
    const s = net.connect(path);
    s.once('connect', () => {
      s.removeListener('error', reject);
      try {
        checkDaemonPeer(socketFd(s), path);
      } catch (err) {
        s.destroy();
        reject(err);
        return;
      }
      resolve(s);
    });
    s.once('error', reject);
  });
}
