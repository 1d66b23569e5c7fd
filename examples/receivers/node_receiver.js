// A Hookline webhook receiver in plain Node.js (http + crypto, no dependencies).
//
//   SECRET='a-long-shared-secret' PORT=8000 node examples/receivers/node_receiver.js
//
// Point a webhook at http://<this host>:8000/hookline. It answers 200 to a delivery whose
// signature is valid (and to a repeat of one it has already seen), 401 when the signature is
// missing or wrong, and does the real work after answering. It prints one line per verified
// delivery.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");

const SECRET = process.env.SECRET;
const PORT = Number(process.env.PORT || 8000);
const MAX_BODY = 2 * 1024 * 1024; // Hookline refuses events over 1 MiB
const MAX_REMEMBERED = 100000;

if (!SECRET) {
  console.error("set SECRET to the webhook's secret");
  process.exit(2);
}

// Delivery ids already accepted. In production use your database: a unique constraint on
// the delivery id, written in the same transaction as the work it triggers.
const seen = new Set();

function signatureIsValid(body, header) {
  // The header must be exactly 64 hex characters; then compare the raw HMAC bytes in
  // constant time (timingSafeEqual needs buffers of equal length).
  if (typeof header !== "string" || !/^[0-9a-fA-F]{64}$/.test(header.trim())) {
    return false;
  }
  const expected = crypto.createHmac("sha256", SECRET).update(body).digest();
  return crypto.timingSafeEqual(expected, Buffer.from(header.trim(), "hex"));
}

function handleEvent(deliveryId, payload) {
  // The real work, after the answer was sent. Keep the handler itself fast.
  const data = JSON.stringify(payload.data);
  console.log(`verified ${deliveryId} ${payload.event} ${payload.id} data=${data}`);
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/hookline") {
    res.writeHead(404).end("not found\n");
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      res.writeHead(413, { Connection: "close" }).end("too large\n");
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (res.writableEnded) return;
    const body = Buffer.concat(chunks); // the raw bytes: verify BEFORE parsing
    if (!signatureIsValid(body, req.headers["x-authorization-hmac-256"])) {
      console.log("rejected: invalid or missing signature");
      res.writeHead(401).end("invalid signature\n");
      return;
    }
    const deliveryId = req.headers["x-hookline-delivery"] || "";
    if (seen.has(deliveryId)) {
      res.writeHead(200).end("duplicate\n"); // a retry of something already accepted
      return;
    }
    seen.add(deliveryId);
    if (seen.size > MAX_REMEMBERED) seen.delete(seen.values().next().value);
    const payload = JSON.parse(body.toString("utf8"));
    res.writeHead(200).end("ok\n");
    setImmediate(() => handleEvent(deliveryId, payload));
  });
});

server.listen(PORT, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/hookline`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
