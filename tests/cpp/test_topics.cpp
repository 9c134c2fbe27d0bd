// test_topics: topics through the wrapper, a ws::server and ws::clients in
// one process over loopback: connection::subscribe / unsubscribe /
// is_subscribed, server::publish_text / publish_binary / subscriber_count,
// server_config::slow_subscriber. The server subscribes each connection to
// the room its path names ("/red" -> "red") and publishes what a member
// says to its room, as a chat room does.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using check::journal;
using namespace std::chrono_literals;

// The chat server's handlers: subscribe in on_open, publish in on_text and
// on_binary through `server` (set once the server exists).
static ws::handlers room_handlers(journal &j, std::atomic<const ws::server *> &server) {
  ws::handlers h = check::journaling(j);
  h.on_open = [&j](ws::connection c) {
    c.subscribe(std::string(c.path().substr(1)));
    j.add("open");
  };
  h.on_text = [&server](ws::connection c, std::string_view t) {
    server.load()->publish_text(std::string(c.path().substr(1)), t);
  };
  h.on_binary = [&server](ws::connection c, ws::bytes_view b) {
    server.load()->publish_binary(std::string(c.path().substr(1)), b);
  };
  return h;
}

// True once `topic` has `n` subscribers, within the wait time.
static bool subscribers(const ws::server &s, const std::string &topic, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + check::wait_time;
  while (s.subscriber_count(topic) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

static void test_rooms() {
  check::note("two rooms: publish from this thread and from a handler; unsubscribe; closing leaves topics");
  journal sj;
  std::atomic<const ws::server *> srv{nullptr};
  ws::server server("127.0.0.1", 0, room_handlers(sj, srv));
  srv = &server;
  std::vector<journal> cj(5);
  std::vector<ws::client> members;
  for (int i = 0; i < 5; i++)
    members.emplace_back(check::url_of(server, i < 3 ? "red" : "blue"), check::journaling(cj[i]));
  for (ws::client &m : members) m.connection().wait_open(check::wait_time);
  CHECK(subscribers(server, "red", 3) && subscribers(server, "blue", 2), "3 subscribers on red, 2 on blue");
  CHECK(server.subscriber_count("green") == 0, "subscriber_count of a topic nobody is on: 0");

  CHECK(server.publish_text("red", "red 1") == 3, "publish_text from this thread reaches 3");
  bool ok = true;
  for (int i = 0; i < 3; i++) ok = cj[i].wait_for("text red 1") && ok;
  CHECK(ok, "every red member got it");
  const std::vector<std::uint8_t> bytes{'b', 0, 255};
  CHECK(server.publish_binary("blue", bytes) == 2, "publish_binary(std::vector) reaches 2");
  CHECK(cj[3].wait_for("binary " + std::string(bytes.begin(), bytes.end())) &&
            cj[4].wait_for("binary " + std::string(bytes.begin(), bytes.end())),
        "both blue members got the bytes, NUL and 255 too");
  CHECK(server.publish_text("nobody", "x") == 0, "publish to a topic without subscribers: 0");

  // The chat pattern: a member speaks, its room hears (the speaker too).
  members[3].send_text("blue says");
  CHECK(cj[3].wait_for("text blue says") && cj[4].wait_for("text blue says"), "published from on_text to blue");
  members[1].send_binary(ws::bytes_view(std::string_view("red bytes")));
  ok = true;
  for (int i = 0; i < 3; i++) ok = cj[i].wait_for("binary red bytes") && ok;
  CHECK(ok, "published from on_binary to red");
  CHECK(cj[3].count("text red 1") == 0 && cj[0].count("text blue says") == 0, "no room hears the other");

  // In order: a publisher's messages reach each subscriber in order.
  for (int m = 0; m < 50; m++) server.publish_text("red", "n" + std::to_string(m));
  CHECK(cj[0].wait_for("text n49"), "50 more published to red");
  std::string all = cj[0].all();
  bool in_order = true;
  std::size_t at = 0;
  for (int m = 0; m < 50 && in_order; m++) {
    std::size_t next = all.find("text n" + std::to_string(m) + (m < 49 ? " |" : ""), at);
    in_order = next != std::string::npos;
    at = next;
  }
  CHECK(in_order, "in the order published");

  // Unsubscribe, and subscribe to another topic, through the server's connection list.
  std::vector<ws::connection_ref> conns = server.connections();
  CHECK(conns.size() == 5, "5 server connections");
  int red = 0;
  ws::connection_ref *leaver = nullptr;
  for (ws::connection_ref &c : conns)
    if (c.is_subscribed("red")) {
      red++;
      leaver = &c;
    }
  CHECK(red == 3 && leaver, "is_subscribed: 3 of them are on red");
  if (!leaver) return;
  leaver->unsubscribe("red");
  leaver->unsubscribe("red");
  CHECK(!leaver->is_subscribed("red"), "unsubscribe (twice: no error): not subscribed any more");
  leaver->subscribe("green");
  leaver->subscribe("green");
  CHECK(leaver->is_subscribed("green"), "subscribe (twice: no error) to green");
  CHECK(server.subscriber_count("red") == 2 && server.subscriber_count("green") == 1, "red has 2, green 1");
  CHECK(server.publish_text("red", "red 2") == 2, "red reaches 2 now");

  // Closing leaves every topic.
  for (ws::client &m : members) m.close();
  CHECK(server.wait_closed(check::wait_time), "every member closed");
  CHECK(subscribers(server, "red", 0) && subscribers(server, "blue", 0) && subscribers(server, "green", 0),
        "closed connections left every topic");
  CHECK(!leaver->is_subscribed("green"), "a closed connection is subscribed to nothing");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "subscribe on a closed connection", leaver->subscribe("green"));
  CHECK(check::error_of([&] { leaver->unsubscribe("green"); }) == WS_STATUS_OK,
        "unsubscribe on a closed connection: no error");
}

static void test_errors() {
  check::note("bad names, text that is not UTF-8, a client's connection, slow_subscriber values");
  journal sj, cj;
  std::atomic<const ws::server *> srv{nullptr};
  ws::server server("127.0.0.1", 0, room_handlers(sj, srv));
  srv = &server;
  ws::client client(check::url_of(server, "red"), check::journaling(cj));
  client.connection().wait_open(check::wait_time);
  CHECK(subscribers(server, "red", 1), "a subscriber on red");
  std::vector<ws::connection_ref> conns = server.connections();
  CHECK(conns.size() == 1, "its server connection");
  if (conns.size() != 1) return;
  const ws::connection_ref &conn = conns.front();

  const std::string long_name(1025, 'x');
  for (const std::string &bad : {std::string(), long_name}) {
    std::string what = bad.empty() ? "an empty topic name" : "a 1025-byte topic name";
    CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "publish_text to " + what, server.publish_text(bad, "x"));
    CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "publish_binary to " + what, server.publish_binary(bad, {}));
    CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "subscribe to " + what, conn.subscribe(bad));
    CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "unsubscribe from " + what, conn.unsubscribe(bad));
    CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "is_subscribed to " + what, conn.is_subscribed(bad));
    CHECK(server.subscriber_count(bad) == 0, "subscriber_count of " + what + ": 0");
  }
  CHECK(server.publish_text(std::string(1024, 'x'), "x") == 0, "a 1024-byte name is fine");
  CHECK_THROWS(WS_ERR_INVALID_UTF8, "publish_text of bytes that are not UTF-8",
               server.publish_text("red", "bad \xff"));
  CHECK(server.publish_binary("red", ws::bytes_view(std::string_view("\xff"))) == 1, "... as binary they go");
  CHECK(server.publish_text("red", "") == 1 && cj.wait_for("text "), "an empty text is published");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "a client's connection cannot subscribe", client.connection().subscribe("red"));
  CHECK(!client.connection().is_subscribed("red"), "... and is subscribed to nothing");

  CHECK(static_cast<int>(ws::slow_subscriber::skip) == WS_SLOW_SKIP &&
            static_cast<int>(ws::slow_subscriber::close) == WS_SLOW_CLOSE,
        "slow_subscriber is the C constants");
  ws::server_config cfg;
  CHECK(check::error_of([&] {
          cfg.slow_subscriber(ws::slow_subscriber::close).slow_subscriber(ws::slow_subscriber::skip);
        }) == WS_STATUS_OK,
        "server_config::slow_subscriber takes both values, fluently");
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "an unknown policy", cfg.slow_subscriber(static_cast<ws::slow_subscriber>(9)));
}

// A server whose connections may queue 64 KiB, with `policy`, and a client
// of "/feed" that stops reading (pause): the server publishes 16 KiB
// messages to "feed" until the subscriber is no longer open or 2000 went out
// (32 MiB, more than the socket buffers take), pausing a moment every 50 so
// that its I/O thread keeps up. Returns how many went out; `got` counts what
// the client read, `ended` is set when it gets the text "end".
struct sleeper {
  std::atomic<int> got{0};
  std::atomic<bool> ended{false};
  journal sj;
  std::atomic<const ws::server *> srv{nullptr};
  ws::server server;
  ws::client client;

  explicit sleeper(ws::slow_subscriber policy)
      : server("127.0.0.1", 0, room_handlers(sj, srv),
               ws::server_config()
                   .send_queue_limit(64 * 1024)
                   .send_watermarks(0, 32 * 1024)
                   .close_timeout(300ms)
                   .slow_subscriber(policy)),
        client(check::url_of(server, "feed"), counting()) {
    srv = &server;
    client.connection().wait_open(check::wait_time);
  }

  ws::handlers counting() {
    ws::handlers h;
    h.on_binary = [this](ws::connection, ws::bytes_view) { got++; };
    h.on_text = [this](ws::connection, std::string_view t) {
      if (t == "end") ended = true;
    };
    return h;
  }

  int flood(const ws::connection &subscriber) {
    const std::vector<std::uint8_t> chunk(16 * 1024, 'z');
    int sent = 0;
    while (sent < 2000 && subscriber.state() == ws::conn_state::open) {
      if (sent % 50 == 49) std::this_thread::sleep_for(2ms);
      server.publish_binary("feed", chunk);
      sent++;
    }
    return sent;
  }
};

static void test_slow_skip() {
  check::note("slow_subscriber::skip: a client that does not read misses messages and stays");
  sleeper s(ws::slow_subscriber::skip);
  CHECK(subscribers(s.server, "feed", 1), "one subscriber");
  s.client.connection().pause();
  std::vector<ws::connection_ref> conns = s.server.connections();
  if (!CHECK(conns.size() == 1, "its server connection")) return;
  int sent = s.flood(conns.front());
  CHECK(sent == 2000, "all 2000 published: the subscriber stayed open");
  CHECK(conns.front().state() == ws::conn_state::open && conns.front().is_subscribed("feed"),
        "it is open and subscribed");
  CHECK(conns.front().buffered_amount() <= 64 * 1024, "at most the send queue limit waits for it");
  s.client.connection().resume();
  s.server.publish_text("feed", "end");
  auto deadline = std::chrono::steady_clock::now() + check::wait_time;
  while (!s.ended && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  CHECK(s.ended, "once it reads again, it gets what is published");
  CHECK(s.got > 0 && s.got < 2000, "it missed messages: got " + std::to_string(s.got.load()) + " of 2000");
}

static void test_slow_close() {
  check::note("slow_subscriber::close: a client that does not read is closed with 1008");
  sleeper s(ws::slow_subscriber::close);
  CHECK(subscribers(s.server, "feed", 1), "one subscriber");
  s.client.connection().pause();
  std::vector<ws::connection_ref> conns = s.server.connections();
  if (!CHECK(conns.size() == 1, "its server connection")) return;
  int sent = s.flood(conns.front());
  CHECK(sent < 2000, "it was closed after " + std::to_string(sent) + " messages");
  // It does not read, so its close handshake cannot finish: the close timeout ends it.
  CHECK(conns.front().wait_closed(check::wait_time), "the connection closed");
  std::optional<ws::close_code> code = conns.front().closed_with();
  CHECK(code == ws::close_code::forbidden || code == ws::close_code::closed_abnormally,
        "with 1008 (or 1006 at the close timeout): " + std::to_string(code ? static_cast<int>(*code) : 0));
  CHECK(subscribers(s.server, "feed", 0), "it left the topic");
}

int main() {
  test_rooms();
  test_errors();
  test_slow_skip();
  test_slow_close();
  return check::summary();
}
