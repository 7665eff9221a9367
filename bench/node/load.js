// autocannon, driven by bench/autocannon.py: node load.js CONFIG_JSON prints one JSON result.
// The config names the target, connections, duration, headers and a list of requests that the
// connections take in turn, so each request can ask for a different subject; with `amount`, it
// sends exactly that many requests (each subject once: a crowd's first opens).
"use strict";
const fs = require("fs");
const autocannon = require("autocannon");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let next = 0;
const requests = [{
  setupRequest: (request) => {
    const item = config.requests[next++ % config.requests.length];
    request.method = item.method || "GET";
    request.path = item.path;
    if (item.body !== undefined) {
      request.body = item.body;
      request.headers = { ...request.headers, "content-type": "application/json" };
    }
    return request;
  },
}];
autocannon({
  url: config.url,
  connections: config.connections,
  duration: config.duration,
  ...(config.amount ? { amount: config.amount } : {}),
  headers: config.headers,
  requests,
}, (error, result) => {
  if (error) { console.error(String(error)); process.exit(1); }
  console.log(JSON.stringify({
    total: result.requests.total,
    seconds: result.duration,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }));
});
