// Usage: node bench/profile-summary.mjs <file.cpuprofile> [requests] [--top N]
// Summarises a V8 CPU profile (node --cpu-prof) taken under load: self time by component (the
// vault's own feature folders, each npm package, Node's internals, GC, idle) and inclusive time of
// the vault's own functions; with the number of requests served while profiling, also in µs per
// request. Why self time by component: no single function dominates a request; the question is
// which layer (HTTP framework, ORM/driver, audit, crypto, policy) the CPU goes to.
import { readFileSync } from 'node:fs';

const [file, requestsArg, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [requests] [--top N]');
  process.exit(2);
}
const topIndex = rest.indexOf('--top');
const TOP = topIndex >= 0 ? Number(rest[topIndex + 1]) : 25;
const requests = Number(requestsArg ?? 0);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Component of one frame: src/<feature>, node_modules/<package>, node:<internal>, or a V8 pseudo-frame. */
function component(frame) {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(program)') return '(program: native, not JS)';
    return functionName ? `(native) ${functionName}` : '(native)';
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm:${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = url.match(/\/dist\/src\/([^/]+)\//) ?? url.match(/\/src\/([^/]+)\//);
  if (src) return `vault:${src[1]}`;
  const top = url.match(/\/dist\/src\/([^/]+)\.js$/);
  if (top) return `vault:${top[1]}`;
  return url;
}

const self = new Map();
const inclusive = new Map();
let total = 0;
let idle = 0;
const deltas = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = deltas[i + 1] ?? 0; // a sample's time is the delta to the next one
  const node = byId.get(profile.samples[i]);
  const comp = component(node.callFrame);
  total += dt;
  if (comp === '(idle)') idle += dt;
  self.set(comp, (self.get(comp) ?? 0) + dt);
  // Inclusive time of the vault's own functions: each function counted once per sample.
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const f = byId.get(id).callFrame;
    if (!/\/src\//.test(f.url) || f.url.includes('node_modules')) continue;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist\/)?src\//, 'src/')}:${f.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
  }
}

const busy = total - idle;
const perRequest = (us) => (requests > 0 ? (us / requests).toFixed(1) : '');
const pct = (us) => `${((us / busy) * 100).toFixed(1)}%`;
console.log(`profile: ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (${((busy / total) * 100).toFixed(0)}%)${requests ? `, ${requests} requests: ${(busy / requests).toFixed(0)} µs busy per request` : ''}\n`);
console.log('| component (self time) | share of busy | µs per request |\n|---|---:|---:|');
for (const [comp, us] of [...self].filter(([c]) => c !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`| ${comp} | ${pct(us)} | ${perRequest(us)} |`);
}
console.log('\n| vault function (inclusive) | share of busy | µs per request |\n|---|---:|---:|');
for (const [fn, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`| \`${fn}\` | ${pct(us)} | ${perRequest(us)} |`);
}
