// test_reconnect: client_config::reconnect and the client's calls that outlive
// its connections. The server is destroyed and made again on the same port:
// the client's sends throw WS_ERR_NOT_OPEN meanwhile, on_reconnect hears of
// each attempt (delays within bounds), on_reconnected of the one that opened,
// and the same ws::client sends on its new connection. Then on_reconnect
// returning false, and close() ending the client.
#include <atomic>
#include <optional>
#include <thread>

#include "check.hpp"

using check::journal;
using namespace std::chrono_literals;

static ws::handlers reconnecting(journal &j, std::atomic<int> &bad_delays, std::uint32_t cancel_at = 0) {
  ws::handlers h = check::journaling(j);
  h.on_reconnect = [&j, &bad_delays, cancel_at](ws::connection, std::uint32_t attempt, std::chrono::milliseconds d) {
    auto ceiling = std::min(20ms * (1 << std::min(attempt - 1, 20u)), 80ms);
    if (d < ceiling / 2 || d > ceiling) bad_delays++;
    j.add("reconnect " + std::to_string(attempt));
    return attempt != cancel_at;
  };
  h.on_reconnected = [&j](ws::connection, std::uint32_t) { j.add("reconnected"); };
  return h;
}

static ws::client_config quick() {
  ws::client_config cfg;
  cfg.reconnect(20ms, 80ms);
  return cfg;
}

static std::optional<ws::server> listen_on(std::uint16_t port, const ws::handlers &h) {
  for (auto end = std::chrono::steady_clock::now() + check::wait_time; std::chrono::steady_clock::now() < end;) {
    try {
      return ws::server("127.0.0.1", port, h);
    } catch (const ws::error &) {
      std::this_thread::sleep_for(10ms);  // the old server may still hold the port
    }
  }
  return std::nullopt;
}

static void test_server_restart() {
  check::note("the server goes away and comes back on the same port");
  ws::handlers echo;
  echo.on_text = [](ws::connection c, std::string_view t) { c.send_text(t); };
  std::optional<ws::server> server(std::in_place, "127.0.0.1", 0, echo);
  std::uint16_t port = server->port();
  journal j;
  std::atomic<int> bad{0};
  ws::client client(check::url_of(*server), reconnecting(j, bad), quick());
  client.connection().wait_open(check::wait_time);
  CHECK(client.send_text("one") == ws::send_result::ok, "send_text while open");
  CHECK(j.wait_for("text one"), "echo");

  server.reset();
  CHECK(j.wait_for("reconnect 2"), "attempts while the server is gone");
  CHECK(client.reconnecting(), "reconnecting()");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "send_text while reconnecting", client.send_text("lost"));
  server = listen_on(port, echo);
  CHECK(server.has_value(), "the server again on its port");
  CHECK(j.wait_for("reconnected"), "on_reconnected");
  CHECK(bad == 0, "every delay within its bounds");
  CHECK(!client.reconnecting() && client.connection().state() == ws::conn_state::open, "open again");
  ws::connection_ref held = client.retained_connection();
  CHECK(client.send_text("two") == ws::send_result::ok, "send_text on the same client");
  CHECK(j.wait_for("text two"), "echo on the new connection");
  client.close();
  CHECK(held.wait_closed(check::wait_time), "close() closes the connection");
  CHECK(j.count_start("reconnected") == 1, "no attempt after close()");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "close() once ended", client.close());
}

static void test_cancel() {
  check::note("on_reconnect returning false");
  std::uint16_t port;
  { port = ws::server("127.0.0.1", 0, ws::handlers{}).port(); }
  journal j;
  std::atomic<int> bad{0};
  ws::client client("ws://127.0.0.1:" + std::to_string(port) + "/", reconnecting(j, bad, 2), quick());
  CHECK(j.wait_for("reconnect 2"), "two attempts");
  std::this_thread::sleep_for(100ms);
  CHECK(j.count_start("reconnect") == 2 && !client.reconnecting(), "none after the cancelled one: " + j.all());
}

int main() {
  test_server_restart();
  test_cancel();
  return check::summary();
}
