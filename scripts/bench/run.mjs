// `npm run bench`: every benchmark, one table, results in bench/results.json. Never fails on speed.
// BENCH_ONLY=name,name runs a subset (get-token, git, sdk, storm, cold, soak).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchColdStart } from './cold-start.mjs';
import { benchGetToken } from './get-token.mjs';
import { benchGitCredential } from './git-credential.mjs';
import { fmt } from './lib.mjs';
import { benchSdk } from './sdk.mjs';
import { benchSoak } from './soak.mjs';
import { benchStorm } from './storm.mjs';

const rounds = Number(process.env.BENCH_ROUNDS ?? 40);
const only = process.env.BENCH_ONLY?.split(',');
const suites = {
  'get-token': () => benchGetToken({ rounds }),
  git: () => benchGitCredential({ rounds }),
  sdk: () => benchSdk({ seconds: 3, requests: 1_000_000 }),
  storm: () => benchStorm(),
  cold: () => benchColdStart(),
  soak: () => benchSoak({ seconds: Number(process.env.BENCH_SOAK_SECONDS ?? 60) }),
};

const rows = [];
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  rows.push(...(await run()));
}

const num = (v, unit) => (unit === 'ms' || unit === undefined ? fmt(v) : `${v < 100 ? v.toFixed(2) : Math.round(v)} ${unit}`);
const header = ['benchmark', 'authd', 'p95 / p99', 'compared with', 'its figure', 'ratio', 'target', 'met'];
const lines = rows.map((r) => [
  r.benchmark,
  r.authd ? fmt(r.authd.median) : num(r.figure, r.unit),
  r.authd ? fmt(r.authd.p95) : r.p95 !== undefined ? fmt(r.p95) : r.p99 !== undefined ? `p99 ${fmt(r.p99)}` : '',
  r.compared ?? '',
  r.baseline ? (typeof r.baseline === 'number' ? num(r.baseline, r.unit) : fmt(r.baseline.median)) : '',
  r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : '',
  r.target ?? '',
  r.met === undefined ? '' : r.met ? 'yes' : 'no',
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const show = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${rounds} alternating rounds for process timings\n`);
console.log(show(header));
console.log(show(widths.map((w) => '-'.repeat(w))));
for (const l of lines) console.log(show(l));
const notes = rows.filter((r) => r.note).map((r) => `- ${r.benchmark}: ${r.note}`);
if (notes.length) console.log(`\n${notes.join('\n')}`);
mkdirSync('bench', { recursive: true });
writeFileSync('bench/results.json', `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, rows }, null, 2)}\n`);
console.log('\nwritten to bench/results.json');
