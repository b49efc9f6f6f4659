// APNs-like HTTP/2 sink that records when each request arrived (Node >= 18, no dependencies).
//
// Usage: node sink.js PORT KEY_PEM CERT_PEM RECEIPTS_FILE
// POST /3/device/<64 hex> -> 200 with an apns-id (echoed, else a random UUID, as APNs does);
// any other token -> 400 {"reason":"BadDeviceToken"}; other methods -> 405.
// For every request one line "<CLOCK_MONOTONIC ns> <token>\n" is appended to RECEIPTS_FILE,
// taken when the request's HEADERS arrive (process.hrtime is CLOCK_MONOTONIC on Linux, the
// clock of Python's time.monotonic_ns). Listens on 127.0.0.1 only; SIGTERM flushes and exits.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');

const [port, keyFile, certFile, receiptsFile] = process.argv.slice(2);
const receipts = fs.createWriteStream(receiptsFile);
const DEVICE = /^\/3\/device\/([0-9a-f]{64})$/;

const server = http2.createSecureServer({
  key: fs.readFileSync(keyFile),
  cert: fs.readFileSync(certFile),
  settings: { maxConcurrentStreams: 1000 },
});

server.on('stream', (stream, headers) => {
  const arrived = process.hrtime.bigint();
  const match = DEVICE.exec(headers[':path'] || '');
  const token = match ? match[1] : '-';
  receipts.write(`${arrived} ${token}\n`);
  stream.on('error', () => {});
  stream.on('data', () => {});
  stream.on('end', () => {
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405, 'content-type': 'application/json' });
      stream.end('{"reason":"MethodNotAllowed"}');
    } else if (!match) {
      stream.respond({ ':status': 400, 'content-type': 'application/json' });
      stream.end('{"reason":"BadDeviceToken"}');
    } else {
      const apnsId = headers['apns-id'] || crypto.randomUUID();
      stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true });
    }
  });
});
server.on('sessionError', () => {});

function shutdown() {
  receipts.end(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
server.listen(Number(port), '127.0.0.1');
