// The parts of examples-c/web/websocket-client.js that need no browser, under
// `node --test`: a fake WebSocket class stands in for the browser's, and the
// test drives it (open, message, drop) and looks at what the client did.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { WebSocketClient, CloseCode, closeCodeName, backoffDelay } = require("../../examples-c/web/websocket-client.js");

/** A WebSocket whose events the test fires. Every instance is kept, in order. */
class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, sent: [], closedWith: null });
    FakeSocket.all.push(this);
  }
  static last() {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }
  send(data) {
    this.sent.push(data);
  }
  close(code, reason) {
    this.closedWith = { code, reason };
    setTimeout(() => this.drop(code ?? CloseCode.NO_STATUS, reason ?? ""));
  }
  open() {
    this.onopen({});
  }
  receive(data) {
    this.onmessage({ data });
  }
  drop(code = CloseCode.CLOSED_ABNORMALLY, reason = "") {
    this.onclose({ code, reason, wasClean: code !== CloseCode.CLOSED_ABNORMALLY });
  }
}

const fast = { WebSocket: FakeSocket, minDelay: 5, maxDelay: 20, jitter: 0 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the arguments of the next `name` event of `client`. */
const next = (client, name) =>
  new Promise((resolve) => {
    const off = client.on(name, (...args) => {
      off();
      resolve(args);
    });
  });

test("backoffDelay: doubles from minDelay up to maxDelay, less up to `jitter` of it", () => {
  const options = { minDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 };
  const none = () => 0;
  assert.deepEqual([1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, options, none)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(3, options, () => 0.999999), 200);
  for (let i = 0; i < 100; i++) {
    const delay = backoffDelay(2, options);
    assert.ok(delay >= 100 && delay <= 200, `${delay} in [100, 200]`);
  }
});

test("CloseCode has the names and values of the C header's close codes", () => {
  const header = fs.readFileSync(path.join(__dirname, "../../include/websocket.h"), "utf8");
  const codes = [...header.matchAll(/^#define WS_([A-Z_]+) (1\d{3})$/gm)];
  assert.ok(codes.length >= 12, "found the close codes in websocket.h");
  for (const [, name, value] of codes) assert.equal(CloseCode[name], Number(value), name);
  assert.equal(CloseCode.NORMAL, 1000);
  assert.equal(closeCodeName(1000), "OK");
  assert.equal(closeCodeName(1008), "FORBIDDEN");
  assert.equal(closeCodeName(4000), "APPLICATION");
  assert.equal(closeCodeName(1234), "UNKNOWN");
});

test("what is sent before the connection opens is queued, then sent in order", () => {
  const client = new WebSocketClient("ws://chat/", fast);
  const socket = FakeSocket.last();
  assert.equal(client.state, "connecting");
  assert.ok(client.send("one"));
  assert.ok(client.sendJSON({ n: 2 }));
  assert.equal(client.queued, 2);
  assert.deepEqual(socket.sent, []);
  let sentAtOpen;
  client.on("open", () => (sentAtOpen = [...socket.sent]));
  socket.open();
  assert.deepEqual(sentAtOpen, ["one", '{"n":2}'], "flushed before the open event");
  client.send("three");
  assert.deepEqual(socket.sent, ["one", '{"n":2}', "three"]);
  assert.equal(client.queued, 0);
  client.close();
});

test("the queue is bounded: send refuses what does not fit", () => {
  const client = new WebSocketClient("ws://chat/", { ...fast, queueLimit: 2 });
  assert.deepEqual(["a", "b", "c"].map((m) => client.send(m)), [true, true, false]);
  client.close();
});

test("messages: the message event, and json with the parsed value when it is JSON", () => {
  const client = new WebSocketClient("ws://chat/", fast);
  const socket = FakeSocket.last();
  socket.open();
  const messages = [], values = [];
  client.on("message", (data) => messages.push(data));
  client.onjson = (value) => values.push(value);
  socket.receive('{"type":"chat","text":"hi"}');
  socket.receive("not json");
  assert.deepEqual(messages, ['{"type":"chat","text":"hi"}', "not json"]);
  assert.deepEqual(values, [{ type: "chat", text: "hi" }]);
  client.close();
});

test("a dropped connection comes back with backoff, and what was sent meanwhile goes first", async () => {
  const client = new WebSocketClient("ws://chat/", { ...fast, protocols: "chat" });
  const first = FakeSocket.last();
  first.open();
  const events = [];
  for (const name of ["close", "reconnecting", "reconnected", "open"]) client.on(name, (e) => events.push([name, e]));

  first.drop(CloseCode.GONE, "restarting");
  assert.equal(client.state, "reconnecting");
  assert.ok(client.send("while away"));
  assert.deepEqual(events[0], ["close", { code: 1001, name: "GONE", reason: "restarting", wasClean: true, willReconnect: true }]);
  assert.deepEqual(events[1], ["reconnecting", { attempt: 1, delay: 5 }]);

  await sleep(30);
  const second = FakeSocket.last();
  assert.notEqual(second, first, "a new socket");
  assert.equal(second.protocols, "chat");
  second.drop(); // the server is not back yet
  assert.deepEqual(events.at(-1), ["reconnecting", { attempt: 2, delay: 10 }]);

  await sleep(40);
  const third = FakeSocket.last();
  third.open();
  assert.deepEqual(third.sent, ["while away"]);
  assert.deepEqual(events.slice(-2), [["open", undefined], ["reconnected", { attempts: 2 }]]);
  assert.equal(client.state, "open");
  client.close();
});

test("no reconnection after the application closes, or after FORBIDDEN", async () => {
  const client = new WebSocketClient("ws://chat/", fast);
  const socket = FakeSocket.last();
  socket.open();
  const [close] = await Promise.all([next(client, "close").then(([c]) => c), client.close(CloseCode.OK, "bye")]);
  assert.deepEqual(socket.closedWith, { code: 1000, reason: "bye" });
  assert.equal(close.willReconnect, false);
  assert.equal(client.send("late"), false);

  const refused = new WebSocketClient("ws://chat/?room=bad!", fast);
  FakeSocket.last().open();
  FakeSocket.last().drop(CloseCode.FORBIDDEN, "bad room");
  assert.equal(refused.state, "closed");
  await sleep(30);
  assert.equal(refused.state, "closed", "no new attempt");
});

test("gives up after maxRetries failed attempts", async () => {
  const client = new WebSocketClient("ws://chat/", { ...fast, maxRetries: 2 });
  const gaveUp = next(client, "giveup");
  for (let i = 0; i < 3; i++) {
    FakeSocket.last().drop();
    await sleep(30);
  }
  assert.deepEqual(await gaveUp, [{ attempts: 2 }]);
  assert.equal(client.state, "closed");
  assert.equal(client.send("x"), false);
});

test("a connection that does not open in openTimeout is dropped and retried", async () => {
  const client = new WebSocketClient("ws://chat/", { ...fast, openTimeout: 10 });
  const first = FakeSocket.last();
  const [reconnecting] = await next(client, "reconnecting");
  assert.ok(first.closedWith, "closed the socket that hung");
  assert.equal(reconnecting.attempt, 1);
  client.close();
});
