// `authd doctor`: what is wrong with this installation, and how to fix it.
import { printable } from '../../protocol/index.js';
import { type Command, HELP_FLAG, JSON_FLAG, noPositionals, writeJson } from '../command.js';

export const command: Command<{ json: boolean }> = {
  name: 'doctor',
  synopsis: 'doctor [--json]',
  summary: 'check permissions, store, config and providers',
  help: `Usage: authd doctor [--json]

Checks directory permissions, the store, the config and that each provider answers,
and says how to fix what is wrong. Exits 1 when a check fails.
  --json   {"ok":…,"checks":[{"name","status":"ok"|"warning"|"failed","detail","fix"}]}
`,
  flags: { ...JSON_FLAG, ...HELP_FLAG },
  parse(args) {
    noPositionals(args, 'doctor');
    return { json: args.flags.json === true };
  },
  async run(opts, io, connect) {
    const { checks } = await (await connect()).request('doctor', {});
    const failed = checks.filter((c) => !c.ok && !c.warn).length;
    if (opts.json) {
      writeJson(io, {
        ok: failed === 0,
        checks: checks.map((c) => ({ name: c.name, status: c.ok ? 'ok' : c.warn ? 'warning' : 'failed', detail: c.detail, fix: c.fix ?? null })),
      });
      return failed ? 1 : 0;
    }
    for (const c of checks) {
      io.stdout.write(`${c.ok ? '✓' : c.warn ? '!' : '✗'} ${c.name}: ${printable(c.detail)}\n`);
      if (!c.ok && c.fix) io.stdout.write(`    fix: ${printable(c.fix)}\n`);
    }
    return failed ? 1 : 0;
  },
};
