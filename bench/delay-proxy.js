#!/usr/bin/env node
// delay-proxy.js — a slow object store for bench/growth: a TCP proxy on
// 127.0.0.1 that holds the answer to chosen HTTP methods for DELAY_MS.
//
//   node bench/delay-proxy.js LISTEN_PORT TARGET_PORT DELAY_MS METHODS
//
// Sits between the egress nginx and s3rver (bench/growth points the egress
// server's $s3_address at it).  Each connection carries one request (nginx
// opens one upstream connection per request: no upstream keepalive in
// nginx/talentd-egress.conf); the request is passed on at once, and when its
// method is in METHODS (comma-separated, e.g. "PUT") the first byte of the
// store's answer, and everything after it, is held for DELAY_MS: the store
// then answers DELAY_MS later than s3rver alone would.  Bytes are not parsed
// beyond the method.  On SIGTERM it prints the requests it saw per method
// (and how many it delayed) to stderr and exits.
'use strict';
const net = require('net');

const [lport, tport, delayArg, methodsArg] = process.argv.slice(2);
if (!lport || !tport || delayArg === undefined) {
  process.stderr.write('usage: delay-proxy.js LISTEN_PORT TARGET_PORT DELAY_MS [METHODS]\n');
  process.exit(64);
}
const delay = Number(delayArg);
const methods = new Set((methodsArg || 'PUT').split(',').filter(Boolean));
const seen = {};
let delayed = 0;

const server = net.createServer((client) => {
  client.setNoDelay(true);
  client.on('error', () => {});
  client.once('data', (first) => {
    const sp = first.indexOf(0x20);
    const method = sp > 0 && sp < 16 ? first.toString('latin1', 0, sp) : '?';
    seen[method] = (seen[method] || 0) + 1;
    const store = net.connect(Number(tport), '127.0.0.1');
    store.setNoDelay(true);
    store.on('error', () => client.destroy());
    client.on('error', () => store.destroy());
    client.on('close', () => store.destroy());
    store.write(first);
    client.pipe(store);
    if (methods.has(method) && delay > 0) {
      delayed++;
      store.once('data', (answer) => {
        store.pause();
        setTimeout(() => {
          client.write(answer);
          store.pipe(client);
        }, delay);
      });
    } else {
      store.pipe(client);
    }
  });
});
server.on('error', (e) => {
  process.stderr.write(`delay-proxy: ${e.message}\n`);
  process.exit(1);
});
server.listen(Number(lport), '127.0.0.1', () => {
  process.stderr.write(`delay-proxy: 127.0.0.1:${lport} -> 127.0.0.1:${tport}, ${[...methods].join(',')} answered ${delay} ms late\n`);
});
process.on('SIGTERM', () => {
  process.stderr.write(`delay-proxy: requests ${JSON.stringify(seen)}, delayed ${delayed}\n`);
  process.exit(0);
});
