// APNs-like HTTP/2 test server on Node's http2 module (a test helper).
// Usage: node node_server.js KEY CERT  -> prints the port, then serves on 127.0.0.1.
// POST /3/device/<token>: 200 with the request's apns-id echoed (or a random UUID);
// a token starting with "bad" gets 400 {"reason":"BadDeviceToken"}.
"use strict";
const http2 = require("http2");
const fs = require("fs");
const crypto = require("crypto");

const server = http2.createSecureServer({
  key: fs.readFileSync(process.argv[2]),
  cert: fs.readFileSync(process.argv[3]),
  allowHTTP1: false,
  settings: { maxConcurrentStreams: 1000 },
});

server.on("stream", (stream, headers) => {
  const chunks = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  stream.on("end", () => {
    const body = Buffer.concat(chunks);
    const apnsId = headers["apns-id"] || crypto.randomUUID();
    const token = String(headers[":path"] || "").split("/").pop();
    if (token.startsWith("bad")) {
      stream.respond({ ":status": 400, "apns-id": apnsId, "content-type": "application/json" });
      stream.end(JSON.stringify({ reason: "BadDeviceToken" }));
      return;
    }
    stream.respond({ ":status": 200, "apns-id": apnsId, "x-body-length": String(body.length) });
    stream.end();
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(server.address().port + "\n");
});
// Exit when the parent goes away (stdin closes) or after 10 minutes at most.
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), 600000).unref();
