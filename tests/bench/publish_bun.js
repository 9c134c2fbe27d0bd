// The fan-out benchmark's server on Bun's topics (Bun.serve, built on
// uWebSockets): every connection subscribes to the topic "all" when it opens,
// and every message received is published to it with server.publish, so each
// message goes to every connection, the sender included. The same contract as
// tests/bench/fanout_server.c.
//
//   bun tests/bench/publish_bun.js --host H --port P
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : fallback;
};

const server = Bun.serve({
  hostname: option('--host', '127.0.0.1'),
  port: Number(option('--port', '9001')),
  fetch(req, server) {
    if (server.upgrade(req)) return;
    return new Response('websocket only', { status: 400 });
  },
  websocket: {
    open(ws) { ws.subscribe('all'); },
    message(ws, msg) { server.publish('all', msg); },
    maxPayloadLength: 16 * 1024 * 1024,
    backpressureLimit: 64 * 1024 * 1024,
    closeOnBackpressureLimit: false,
  },
});
console.error(`publish_bun: bun ${Bun.version} listening on ${server.hostname}:${server.port} (topic "all")`);
