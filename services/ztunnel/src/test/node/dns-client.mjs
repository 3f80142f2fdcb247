// An independent DNS client for DnsProxyTest: Node's resolver (c-ares), which retries over TCP when a UDP
// answer is truncated. Usage: node dns-client.mjs <server ip:port> <local ip> "<A|AAAA> <name>"...
// Prints one JSON line per query: {q, ok, answers} or {q, ok: false, code}.
import { Resolver } from 'node:dns/promises';

const [server, local, ...queries] = process.argv.slice(2);
const resolver = new Resolver({ timeout: 3000, tries: 1 });
resolver.setLocalAddress(local);
resolver.setServers([server]);
for (const q of queries) {
  const [type, name] = q.split(' ');
  try {
    const answers = type === 'AAAA' ? await resolver.resolve6(name) : await resolver.resolve4(name);
    console.log(JSON.stringify({ q, ok: true, answers }));
  } catch (e) {
    console.log(JSON.stringify({ q, ok: false, code: e.code }));
  }
}
