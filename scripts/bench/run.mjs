// `npm run bench`: every benchmark, one table, results in bench/results.json. Never fails on speed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchGetToken } from './get-token.mjs';
import { benchGitCredential } from './git-credential.mjs';
import { fmt } from './lib.mjs';

const rounds = Number(process.env.BENCH_ROUNDS ?? 40);
const rows = [...(await benchGetToken({ rounds })), ...(await benchGitCredential({ rounds }))];

const header = ['benchmark', 'authd median', 'authd p95', 'compared with', 'its median', 'its p95', 'ratio'];
const lines = rows.map((r) => [r.benchmark, fmt(r.authd.median), fmt(r.authd.p95), r.compared, fmt(r.baseline.median), fmt(r.baseline.p95), `${r.ratio.toFixed(2)}×`]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const show = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${rounds} alternating rounds\n`);
console.log(show(header));
console.log(show(widths.map((w) => '-'.repeat(w))));
for (const l of lines) console.log(show(l));
mkdirSync('bench', { recursive: true });
writeFileSync('bench/results.json', `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, rows }, null, 2)}\n`);
console.log('\nwritten to bench/results.json');
