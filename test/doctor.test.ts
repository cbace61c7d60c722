// `authd doctor` and `authd status` against the real binary: what they say, and how to fix it.
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { Home } from './support/harness.js';

/** The line a check prints, and its fix line, if any. */
function lines(stdout: string, name: string): string[] {
  const all = stdout.split('\n');
  const i = all.findIndex((l) => l.slice(2).startsWith(`${name}: `));
  if (i === -1) return [];
  return all[i + 1]?.startsWith('    fix: ') ? [all[i]!, all[i + 1]!] : [all[i]!];
}

test('without a keychain, status says so in one line and doctor gives the reason and the fix', async () => {
  const home = new Home();
  onTestFinished(() => home.dispose());
  home.writeConfig({});
  const noBus = { env: { DBUS_SESSION_BUS_ADDRESS: '' } };
  const status = await home.run(['status'], noBus);
  expect(status.code).toBe(0);
  expect(status.stdout.split('\n').filter((l) => l.startsWith('warning'))).toEqual([
    'warning  no keychain: secrets are in a 0600 file (see `authd doctor`)',
  ]);
  const doctor = await home.run(['doctor'], noBus);
  const credentials = join(home.stateDir, 'credentials.json');
  expect(lines(doctor.stdout, 'store')[0]).toBe(
    `! store: file (${credentials}): No usable keychain was found, so authd keeps its secrets in the file ${credentials}: `
    + 'The Secret Service keychain is unavailable: DBUS_SESSION_BUS_ADDRESS is empty, so there is no D-Bus session bus. '
    + 'To use the keychain, run authd in a desktop session, or on a machine without one under `dbus-run-session` with gnome-keyring started unlocked '
    + '(`printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets`); to silence this, set store = "file".');
});
