// Runs a command on a real pseudo-terminal, as a user at a terminal would see it: util-linux
// `script -qfec CMD /dev/null` gives the command a pty for stdin, stdout and stderr (so isTTY is
// true and libraries colour their output) and copies everything it prints to our pipe; what we
// write to its stdin is typed at that terminal.
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
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
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
