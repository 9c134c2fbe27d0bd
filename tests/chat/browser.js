// Two headless Chromium pages chat through build/chat_server, which is then
// killed (SIGKILL, as in a crash) and started again on the same port: both
// pages reconnect through websocket-client.js's backoff and chat again, and
// what a page sent while the server was down arrives once it is back.
//
//   node tests/chat/browser.js CHROMIUM    (from the top of the tree; tests/chat.sh runs it)
//
// Prints "ok - ..." per check; exits 1 at the first failure, with what each
// page shows.
"use strict";
const { spawn } = require("node:child_process");
const { chromium } = require("playwright-core");

const WAIT_MS = 15000; // for each step
const [executablePath] = process.argv.slice(2);
let server = null, browser = null, passed = 0;
const pages = {};

/** Starts chat_server on `port` (0: a free one) and resolves with the port it listens on. */
function startServer(port) {
  server = spawn("build/chat_server", ["--host", "127.0.0.1", "--port", String(port), "--web", "examples-c/web"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("chat_server did not say it listens")), 5000);
    server.stdout.on("data", (chunk) => {
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec((out += chunk));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    server.on("exit", (code) => reject(new Error(`chat_server exited with ${code}`)));
  });
}

/** Stops chat_server with `signal`; resolves with its exit code (or the signal). */
function stopServer(signal) {
  const exited = new Promise((resolve) => server.once("exit", (code, sig) => resolve(code ?? sig)));
  server.kill(signal);
  return exited;
}

async function check(name, step) {
  try {
    await step();
  } catch (error) {
    console.log(`FAIL - ${name}\n     ${String(error.message).split("\n")[0]}`);
    for (const [who, page] of Object.entries(pages)) {
      const shown = await page.evaluate(() => ({
        status: document.getElementById("status").textContent,
        messages: [...document.querySelectorAll("#messages li")].map((li) => li.textContent),
      }));
      console.log(`     page ${who}: ${JSON.stringify(shown)}`);
    }
    error.reported = true;
    throw error;
  }
  passed++;
  console.log(`ok - ${name}`);
}

const state = (page, value) => page.waitForSelector(`body[data-state="${value}"]`, { timeout: WAIT_MS });
const line = (page, text) => page.locator("#messages li", { hasText: text }).waitFor({ timeout: WAIT_MS });
const say = async (page, text) => {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
};
const serverOf = (page) => page.evaluate(() => document.body.dataset.server);

async function main() {
  const port = await startServer(0);
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
  for (const name of ["alice", "bob"]) {
    const context = await browser.newContext(); // like two browsers: nothing shared
    pages[name] = await context.newPage();
    await pages[name].goto(`http://127.0.0.1:${port}/?room=test&name=${name}`);
  }
  const { alice, bob } = pages;
  let firstServer;

  await check("both pages load from chat_server and join room test", async () => {
    await Promise.all([state(alice, "open"), state(bob, "open")]);
    firstServer = await serverOf(alice);
  });
  await check("a line typed in page A appears in page B", async () => {
    await say(alice, "hello from alice");
    await line(bob, "alice: hello from alice");
  });
  await check("chat_server killed (SIGKILL): both pages wait to reconnect", async () => {
    await stopServer("SIGKILL");
    await Promise.all([state(alice, "reconnecting"), state(bob, "reconnecting")]);
  });
  await check("a line typed in page A meanwhile is queued", async () => {
    await say(alice, "sent while the server was down");
    const queued = await alice.evaluate(() => client.queued);
    if (queued !== 1) throw new Error(`${queued} messages queued`);
  });
  await check("chat_server restarted on the same port: both pages reconnect", async () => {
    const again = await startServer(port);
    if (again !== port) throw new Error(`listening on ${again}, not ${port}`);
    await Promise.all([state(alice, "open"), state(bob, "open")]);
    await Promise.all([line(alice, "reconnected after"), line(bob, "reconnected after")]);
    const now = await serverOf(alice);
    if (now === firstServer) throw new Error(`still the welcome of ${firstServer}`);
  });
  await check("the queued line was sent on reconnection", () => line(alice, "alice: sent while the server was down"));
  await check("a new line from page B appears in page A", async () => {
    await say(bob, "bob is back");
    await line(alice, "bob: bob is back");
  });
  await check("chat_server stops cleanly on SIGTERM (exit 0)", async () => {
    const code = await stopServer("SIGTERM");
    server = null;
    if (code !== 0) throw new Error(`exit ${code}`);
  });
}

main()
  .then(() => console.log(`${passed} passed, 0 failed`))
  .catch((error) => {
    if (!error.reported) console.log(`FAIL - ${error.message}`);
    console.log(`${passed} passed, 1 failed`);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (server) server.kill("SIGKILL");
    if (browser) await browser.close();
  });
