// Runs a command on a real pseudo-terminal, as a user at a terminal would see it: util-linux
// `script -qfec CMD /dev/null` gives the command a pty for stdin, stdout and stderr (so isTTY is
// true and libraries colour their output) and copies everything it prints to our pipe; what we
// write to its stdin is typed at that terminal. script runs the command with $SHELL -c (or /bin/sh
// when SHELL is unset); dash does not exec a lone command, so a Ctrl-C would kill the shell around
// it and script would report 130 whatever the command did. The command is therefore exec'd, with
// SHELL pinned to /bin/sh, so the exit code is the command's own in any environment.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface OnTerminal {
  /** everything printed so far, stdout and stderr interleaved as on the screen (CRLF line ends) */
  readonly output: string;
  /** resolves once `text` has been printed; rejects if the command exits first */
  printed(text: string): Promise<void>;
  /** resolves with the command's exit code once it has exited */
  readonly exited: Promise<number | null>;
  /** types Ctrl-C, as a user would (the terminal sends SIGINT to the command); resolves with its exit code */
  interrupt(): Promise<number | null>;
}

export function onTerminal(command: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): OnTerminal {
  const env = { ...(opts.env ?? process.env), SHELL: '/bin/sh' };
  const child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d.toString();
    for (const check of waiters) check();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    get output() {
      return output;
    },
    printed(text) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
        exited.then(() => {
          if (waiters.delete(check)) reject(new Error(`exited without printing ${JSON.stringify(text)}; it printed:\n${output}`));
        });
      });
    },
    exited,
    interrupt() {
      if (child.exitCode === null && child.signalCode === null) child.stdin.write('\x03');
      return exited;
    },
  };
}
