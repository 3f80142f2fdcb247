// An independent HBONE peer written with Node.js's own http2 and tls modules, for interop tests with ztunnel.
//
//   node hbone-peer.mjs client <host> <port> <authority> <certPem> <keyPem> <caPem> <expectedSpiffeId> <payload>
//     mTLS (TLS 1.3, ALPN h2, no SNI) to host:port, checks the server's URI SAN, sends CONNECT <authority>,
//     writes <payload>, ends its half, and prints {"status":..,"body":..,"peer":..} once the stream ends.
//   node hbone-peer.mjs shared <host> <port> <authority> <certPem> <keyPem> <caPem> <expectedSpiffeId> <bulkBytes>
//       <requests>
//     Two tunnels on one connection to an echo <authority>: a bulk one writes <bulkBytes> (byte i is i % 251) while
//     the other sends <requests> 1 KiB requests one after another, each after the last one's echo; 200 ms after
//     both are done the bulk one writes 1 MiB more, alone, and ends. Prints {"bulkEchoed","bulkIntact",
//     "requestsEchoed","windows"}: windows lists the stream window of each SETTINGS frame the server sent.
//   node hbone-peer.mjs server <host> <port> <certPem> <keyPem> <caPem>
//     An HBONE server: client certificate required, answers CONNECT only after connecting to the authority,
//     then pipes both ways; prints {"listening":port} when ready, then {"remoteWindow":n} for each SETTINGS frame a
//     client sends (its stream window).
//   node hbone-peer.mjs gateway <host> <port> <certPem> <keyPem> <caPem> <routesJson> <marker>
//     An east-west gateway for double HBONE: client certificate required; CONNECT <hostname:port> is looked up in
//     <routesJson> ({"host:port": "ip:port"}) and the stream's bytes are piped, unread, to that address (503 when
//     unknown). Prints {"listening":port}, then per stream {"authority","peer","forwardedNetwork"} and, when the
//     stream ends, {"closed":authority,"bytesUp":n,"sawMarker":bool,"rstCode":n} (did <marker> cross in the clear?
//     rstCode 0: the stream ended with END_STREAM both ways, not with a reset).
import http2 from 'node:http2';
import tls from 'node:tls';
import net from 'node:net';
import fs from 'node:fs';

const [mode, ...args] = process.argv.slice(2);

function uriSans(cert) {
  return (cert.subjectaltname || '').split(', ').filter(s => s.startsWith('URI:')).map(s => s.slice(4));
}

// Connects to target (host:port); answers the CONNECT stream 200 once connected and pipes both ways (then calls
// onPiped), or 503 if the connection fails.
function tunnelTo(stream, target, onPiped = () => {}) {
  const i = target.lastIndexOf(':');
  const upstream = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
  upstream.on('connect', () => {
    stream.respond({ ':status': 200 });
    onPiped();
    stream.pipe(upstream);
    upstream.pipe(stream);
  });
  upstream.on('error', () => {
    if (!stream.headersSent) {
      stream.respond({ ':status': 503 }, { endStream: true });
    } else {
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  });
  stream.on('error', () => upstream.destroy());
  // the far side went away first: what the client still sends (its TLS goodbye, END_STREAM) has nowhere to go, but
  // must be read, or the stream never ends on this side although both halves ended on the wire
  upstream.on('close', () => {
    if (!stream.destroyed) {
      stream.unpipe(upstream);
      stream.resume();
    }
  });
  return upstream;
}

function secureServer(certFile, keyFile, caFile) {
  return http2.createSecureServer({
    cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), ca: fs.readFileSync(caFile),
    requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3',
  });
}

function hboneSession(host, port, certFile, keyFile, caFile, expected, onPeer) {
  return http2.connect(`https://${host}:${port}`, {
    createConnection: () => {
      const socket = tls.connect({
        host, port: Number(port),
        cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), ca: fs.readFileSync(caFile),
        ALPNProtocols: ['h2'], minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3',
        // HBONE: no SNI, and identity is the SPIFFE URI SAN, not a DNS name
        servername: '',
        checkServerIdentity: (_h, cert) => {
          const peer = uriSans(cert);
          onPeer(peer);
          return peer.includes(expected) ? undefined : new Error(`unexpected server identity ${peer}`);
        },
      });
      return socket;
    },
  });
}

const pattern = (offset, n) => Buffer.from(Array.from({ length: n }, (_, i) => (offset + i) % 251));

if (mode === 'client') {
  const [host, port, authority, certFile, keyFile, caFile, expected, payload] = args;
  let peer = null;
  const session = hboneSession(host, port, certFile, keyFile, caFile, expected, p => { peer = p; });
  session.on('error', e => { console.log(JSON.stringify({ status: 0, error: String(e) })); process.exit(0); });
  const req = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
  let status = 0;
  const chunks = [];
  req.on('response', h => {
    status = h[':status'];
    if (status === 200) {
      req.end(payload);
    }
  });
  req.on('data', d => chunks.push(d));
  req.on('close', () => {
    console.log(JSON.stringify({ status, body: Buffer.concat(chunks).toString(), peer }));
    session.close();
  });
  req.on('error', () => {});
} else if (mode === 'shared') {
  const [host, port, authority, certFile, keyFile, caFile, expected, bulkArg, requestsArg] = args;
  const bulkBytes = Number(bulkArg);
  const requests = Number(requestsArg);
  const tail = 1 << 20;
  const windows = [];
  const session = hboneSession(host, port, certFile, keyFile, caFile, expected, () => {});
  session.on('remoteSettings', s => windows.push(s.initialWindowSize));
  session.on('error', e => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
  const open = () => new Promise((resolve, reject) => {
    const s = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
    s.on('response', h => (h[':status'] === 200 ? resolve(s) : reject(new Error(`status ${h[':status']}`))));
    s.on('error', reject);
  });
  const [bulk, small] = await Promise.all([open(), open()]);
  let bulkEchoed = 0;
  let bulkIntact = true;
  const bulkDone = new Promise(resolve => bulk.on('end', resolve));
  bulk.on('data', d => {
    bulkIntact &&= d.equals(pattern(bulkEchoed, d.length));
    bulkEchoed += d.length;
  });
  // the writer: chunks of 64 KiB, pausing while the stream's buffer is full
  const write = async (from, to) => {
    for (let at = from; at < to; at += 65536) {
      if (!bulk.write(pattern(at, Math.min(65536, to - at)))) {
        await new Promise(resolve => bulk.once('drain', resolve));
      }
    }
  };
  let requestsEchoed = 0;
  let waiter = null;
  small.on('data', d => {
    requestsEchoed += d.length;
    if (waiter && requestsEchoed >= waiter.want) {
      const w = waiter;
      waiter = null;
      w.resolve();
    }
  });
  const requestLoop = async () => {
    for (let i = 0; i < requests; i++) {
      const want = (i + 1) * 1024;
      small.write(Buffer.alloc(1024, i % 256));
      if (requestsEchoed < want) {
        await new Promise(resolve => { waiter = { want, resolve }; });
      }
    }
    small.end();
  };
  await Promise.all([write(0, bulkBytes), requestLoop()]);
  await new Promise(resolve => setTimeout(resolve, 200));
  await write(bulkBytes, bulkBytes + tail);
  bulk.end();
  await bulkDone;
  console.log(JSON.stringify({ bulkEchoed, bulkIntact, requestsEchoed, windows }));
  session.close();
} else if (mode === 'server') {
  const [host, port, certFile, keyFile, caFile] = args;
  const server = secureServer(certFile, keyFile, caFile);
  server.on('session', session => session.on('remoteSettings',
    s => console.log(JSON.stringify({ remoteWindow: s.initialWindowSize }))));
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT') {
      stream.respond({ ':status': 400 }, { endStream: true });
      return;
    }
    tunnelTo(stream, headers[':authority']);
  });
  server.listen(Number(port), host, () => console.log(JSON.stringify({ listening: server.address().port })));
} else if (mode === 'gateway') {
  const [host, port, certFile, keyFile, caFile, routesJson, marker] = args;
  const routes = JSON.parse(routesJson);
  const server = secureServer(certFile, keyFile, caFile);
  server.on('stream', (stream, headers) => {
    const authority = headers[':authority'];
    console.log(JSON.stringify({
      authority, peer: uriSans(stream.session.socket.getPeerCertificate()),
      forwardedNetwork: headers['x-forwarded-network'] ?? null,
    }));
    const target = headers[':method'] === 'CONNECT' ? routes[authority] : undefined;
    if (!target) {
      stream.respond({ ':status': target === undefined && headers[':method'] === 'CONNECT' ? 503 : 400 },
        { endStream: true });
      return;
    }
    let bytesUp = 0;
    let seen = Buffer.alloc(0);
    let sawMarker = false;
    // nothing arrives before the 200: the client starts its inner handshake only then
    const upstream = tunnelTo(stream, target, () => stream.on('data', d => {
      bytesUp += d.length;
      seen = Buffer.concat([seen, d]).subarray(-4096);
      sawMarker ||= seen.includes(marker);
    }));
    stream.on('close', () => {
      upstream.destroy();
      // rstCode 0: both sides ended the stream (END_STREAM); a reset says why (8 = CANCEL)
      console.log(JSON.stringify({ closed: authority, bytesUp, sawMarker, rstCode: stream.rstCode }));
    });
  });
  server.listen(Number(port), host, () => console.log(JSON.stringify({ listening: server.address().port })));
} else {
  console.error('usage: hbone-peer.mjs client|server|gateway ...');
  process.exit(2);
}
