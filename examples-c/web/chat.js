// chat.js: the chat page (index.html) on top of websocket-client.js.
// The room and name come from the form, or from the page's URL
// (index.html?room=NAME&name=WHO joins at once). chat_server.c describes the
// messages; the page shows what arrives and the state of the connection.
"use strict";

const MAX_SHOWN = 500; // messages kept on the page
const $ = (id) => document.getElementById(id);
let client = null;

function show(text, name) {
  const item = document.createElement("li");
  if (name === undefined) {
    item.className = "notice";
    item.textContent = text;
  } else {
    const who = document.createElement("span");
    who.className = "name";
    who.textContent = name + ": ";
    item.append(who, text); // text nodes: nothing a peer sends becomes markup
  }
  const list = $("messages");
  list.append(item);
  while (list.children.length > MAX_SHOWN) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

function setStatus(text) {
  $("status").textContent = text;
  document.body.dataset.state = client ? client.state : "closed"; // for tests and CSS
}

function join(room) {
  if (client) client.close();
  $("messages").replaceChildren();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const me = new WebSocketClient(`${scheme}//${location.host}/chat?room=${encodeURIComponent(room)}`);
  client = me;
  setStatus("connecting...");
  // The client left behind by joining another room still reports its close: ignored.
  const on = (name, handler) => me.on(name, (...args) => me === client && handler(...args));

  on("json", (msg) => {
    if (msg.type === "welcome") {
      document.body.dataset.server = msg.server;
      setStatus(`in room ${msg.room} on server ${msg.server} (${msg.users} here)`);
    } else if (msg.type === "chat") {
      show(msg.text, msg.name);
    } else if (msg.type === "error") {
      show("server: " + msg.error);
    }
  });
  on("close", (close) => {
    const why = `${close.code} ${close.name}${close.reason ? " (" + close.reason + ")" : ""}`;
    if (!close.willReconnect) setStatus("closed: " + why);
    else show("connection lost: " + why);
  });
  on("reconnecting", ({ attempt, delay }) =>
    setStatus(`disconnected; trying again in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`));
  on("reconnected", ({ attempts }) => show(`reconnected after ${attempts} attempt(s)`));
  on("giveup", () => setStatus("disconnected; gave up"));
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  history.replaceState(null, "", `?room=${encodeURIComponent($("room").value)}&name=${encodeURIComponent($("name").value)}`);
  join($("room").value);
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!client || !text) return;
  if (client.sendJSON({ type: "chat", name: $("name").value, text })) $("text").value = "";
  else show("not sent: " + (client.state === "closed" ? "not connected" : "too many messages waiting"));
});

const params = new URLSearchParams(location.search);
$("room").value = params.get("room") || "lobby";
$("name").value = params.get("name") || "guest-" + Math.floor(Math.random() * 10000);
if (params.has("room")) join($("room").value);
