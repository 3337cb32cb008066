import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
const ids = JSON.parse(readFileSync('/tmp/tools/ids.json', 'utf8'));
const [token, purpose, secs, conns] = process.argv.slice(2);
const r = await autocannon({ url: 'http://127.0.0.1:8800/v1/customers/' + ids[0], connections: Number(conns ?? 64), duration: Number(secs ?? 10),
  headers: { authorization: 'Bearer ' + token, 'x-access-purpose': purpose },
  requests: [{ setupRequest: (req) => ({ ...req, path: '/v1/customers/' + ids[Math.floor(Math.random() * ids.length)] }) }] });
console.log(Math.round(r.requests.average), 'req/s non2xx', r.non2xx, 'p99', r.latency.p99);
