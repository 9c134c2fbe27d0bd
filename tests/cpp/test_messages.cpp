// test_messages: a ws::server and ws::client in one process over loopback, in
// thread dispatch: text and binary both ways, pings and pongs, close codes
// and reasons from each side, the handshake (on_handshake, subprotocols,
// headers), deflate, the server's connection list and broadcast, flow
// control (backpressure, pause and resume), and the process-wide calls.
#include <algorithm>
#include <array>
#include <atomic>
#include <vector>

#include "check.hpp"

using check::journal;
using namespace std::chrono_literals;

// An echo server whose handlers also write to `j`; "close-me" closes with 4000 "bye".
static ws::handlers echo_handlers(journal &j) {
  ws::handlers h = check::journaling(j);
  h.on_text = [&j](ws::connection c, std::string_view t) {
    j.add("text " + std::string(t));
    if (t == "close-me")
      c.close(ws::close_code{4000}, "bye");
    else
      c.send_text(t);
  };
  h.on_binary = [&j](ws::connection c, ws::bytes_view b) {
    j.add("binary " + std::string(b.begin(), b.end()));
    c.send_binary(b);
  };
  return h;
}

static void test_echo_and_close_from_client() {
  check::note("text, binary, ping/pong; the client closes with 4001");
  journal sj, cj;
  ws::server server("127.0.0.1", 0, echo_handlers(sj));
  CHECK(server.port() > 0, "the server listens on a free port");
  CHECK(!server.is_secure(), "without a certificate it is not secure");
  ws::client client(check::url_of(server, "room?x=1"), check::journaling(cj));
  ws::connection conn = client.connection();
  conn.wait_open(check::wait_time);
  CHECK(conn.state() == ws::conn_state::open, "wait_open: the connection is open");
  CHECK(cj.wait_for("open") && sj.wait_for("open"), "on_open on both sides");
  CHECK(conn.path() == "/room" && conn.query() == "x=1", "path and query of the client's connection");
  CHECK(conn.id() > 0 && !conn.is_secure() && conn.subprotocol().empty() && conn.extensions().empty(),
        "id, not secure, no subprotocol, no extension");
  CHECK(conn.peer_address() == "127.0.0.1:" + std::to_string(server.port()), "peer address is the server's");
  CHECK(!conn.closed_with().has_value(), "closed_with: nothing while open");

  CHECK(conn.send_text("hello") == ws::send_result::ok, "send_text -> send_result::ok");
  CHECK(cj.wait_for("text hello"), "the text comes back");
  CHECK(conn.send_text("") == ws::send_result::ok && cj.wait_for("text "), "an empty text comes back");
  const std::vector<std::uint8_t> bytes{'b', 0, 'n', 255};
  CHECK(conn.send_binary(bytes) == ws::send_result::ok, "send_binary(std::vector) -> ok");
  CHECK(cj.wait_for("binary " + std::string(bytes.begin(), bytes.end())), "the bytes come back, NUL and 255 too");
  const std::array<std::uint8_t, 3> arr{1, 2, 3};
  conn.send_binary(arr);
  CHECK(cj.wait_for("binary \x01\x02\x03"), "send_binary(std::array) comes back");
  conn.ping(ws::bytes_view(std::string_view("are you there")));
  CHECK(cj.wait_for("pong are you there"), "a ping is answered with its payload");
  CHECK(sj.wait_for("ping are you there"), "the server's on_ping saw it");
  conn.pong(ws::bytes_view(std::string_view("beat")));
  CHECK(sj.wait_for("pong beat"), "an unsolicited pong arrives");

  {
    ws_conn_stats st = conn.stats();
    CHECK(st.id == conn.id() && st.messages_out >= 4 && st.messages_in >= 4, "stats count the messages");
  }

  conn.close(ws::close_code{4001}, "client bye");
  CHECK(conn.wait_closed(check::wait_time), "wait_closed -> true");
  CHECK(sj.wait_for("close 4001 client bye"), "the server gets code 4001 and the reason");
  CHECK(cj.wait_for("close 4001 "), "the client gets the server's answer: the same code, no reason");
  CHECK(conn.closed_with() == ws::close_code{4001}, "closed_with() == 4001");
  CHECK(conn.state() == ws::conn_state::closed, "state: closed");
}

static void test_close_from_server() {
  check::note("the server closes with 4000 \"bye\"; close codes as C constants");
  journal sj, cj;
  ws::server server("127.0.0.1", 0, echo_handlers(sj));
  ws::client client(check::url_of(server), check::journaling(cj));
  client.connection().wait_open(check::wait_time);
  client.connection().send_text("close-me");
  CHECK(cj.wait_for("close 4000 bye"), "the client's on_close: 4000 \"bye\"");
  CHECK(sj.wait_for("close 4000 "), "the server's on_close: the client's answer, 4000 without reason");
  CHECK(cj.count("error WS_ERR_PROTOCOL") == 0 && sj.all().find("error") == std::string::npos, "no on_error");

  static_assert(static_cast<int>(ws::close_code::ok) == WS_OK && ws::close_code{WS_GONE} == ws::close_code::gone,
                "the enum and the C constants are the same numbers");
  static_assert(static_cast<int>(ws::close_code::tls_handshake_fail) == 1015, "1015");

  ws::server server2("127.0.0.1", 0, echo_handlers(sj));
  ws::client client2(check::url_of(server2), check::journaling(cj));
  client2.connection().wait_open(check::wait_time);
  client2.connection().close();
  CHECK(cj.wait_for("close 1000 "), "close() with no arguments sends 1000, no reason");
}

static void test_handshake_and_options() {
  check::note("on_handshake, subprotocols, headers, deflate");
  journal sj, cj;
  ws::handlers h = echo_handlers(sj);
  std::atomic<int> handshakes{0};
  h.on_handshake = [&](ws::handshake hs) {
    handshakes++;
    if (hs.path() == "/private") {
      hs.add_header("X-Why", "private");
      hs.reject(403, "no entry");
      return;
    }
    sj.add("method " + std::string(hs.method()));
    sj.add("token " + std::string(hs.header("x-token").value_or("none")));
    sj.add("missing " + std::string(hs.header("x-missing").value_or("none")));
    std::vector<std::string_view> offered = hs.subprotocols();
    sj.add("offered " + std::to_string(offered.size()));
    CHECK(hs.peer_address().rfind("127.0.0.1:", 0) == 0 && !hs.is_secure(), "handshake: peer address, not TLS");
    if (!offered.empty()) hs.accept(std::string(offered.back()));  // the client's last choice
    else hs.accept();
  };
  h.on_open = [&sj](ws::connection c) {
    sj.add("open header " + std::string(c.header("X-Token").value_or("none")) + " ext " +
           std::string(c.extensions().empty() ? "none" : "deflate"));
  };
  ws::server server("127.0.0.1", 0, h,
                    ws::server_config().deflate().add_subprotocol("chat").add_subprotocol("v2").max_message_size(1 << 20));

  ws::client client(check::url_of(server),
                    check::journaling(cj),
                    ws::client_config().add_header("X-Token", "abc").add_subprotocol("chat").add_subprotocol("v2").deflate());
  ws::connection conn = client.connection();
  conn.wait_open(check::wait_time);
  CHECK(sj.wait_for("method GET") && sj.wait_for("token abc") && sj.wait_for("missing none") &&
            sj.wait_for("offered 2"),
        "the handshake's method, header (any case), a missing header, the offered subprotocols");
  CHECK(conn.subprotocol() == "v2", "accept(subprotocol) chose \"v2\": " + std::string(conn.subprotocol()));
  CHECK(conn.extensions().find("permessage-deflate") == 0, "deflate negotiated: " + std::string(conn.extensions()));
  CHECK(sj.wait_for("open header abc ext deflate"), "the server's connection sees the header and deflate");
  std::string big(20000, 'z');
  conn.send_text(big);
  CHECK(cj.wait_for("text " + big), "a compressed 20000-byte text comes back");

  ws::client refused(check::url_of(server, "private"), check::journaling(cj));
  std::string message;
  ws_status status = check::error_of([&] { refused.connection().wait_open(check::wait_time); }, &message);
  CHECK(status == WS_ERR_HANDSHAKE && message.find("403") != std::string::npos,
        "a rejected handshake: wait_open throws WS_ERR_HANDSHAKE naming 403: " + message);
  CHECK(cj.wait_for("error WS_ERR_HANDSHAKE") && cj.wait_for("close 1006 "),
        "its on_error (WS_ERR_HANDSHAKE), then on_close (1006)");
  CHECK(handshakes == 2, "on_handshake ran once per request");
}

static void test_connections_and_broadcast() {
  check::note("server::connections, connection_count, broadcast, stats, stop");
  journal sj, cj;
  ws::server server("127.0.0.1", 0, echo_handlers(sj));
  std::vector<ws::client> clients;
  for (int i = 0; i < 3; i++) clients.emplace_back(check::url_of(server), check::journaling(cj));
  for (ws::client &c : clients) c.connection().wait_open(check::wait_time);
  CHECK(sj.wait_for("open", 3), "three connections open");
  CHECK(server.connection_count() == 3, "connection_count() == 3");
  std::vector<ws::connection_ref> conns = server.connections();
  CHECK(conns.size() == 3, "connections() gives 3 references");
  CHECK(server.broadcast_text("to all") == 3, "broadcast_text reached 3");
  CHECK(cj.wait_for("text to all", 3), "each client got it");
  const std::uint8_t raw[] = {7, 8};
  CHECK(server.broadcast_binary(ws::bytes_view(raw, sizeof raw)) == 3 && cj.wait_for("binary \x07\x08", 3),
        "broadcast_binary reached 3");
  conns.front().send_text("just you");
  CHECK(cj.wait_for("text just you"), "a send on a reference from connections()");
  ws_server_stats st = server.stats();
  CHECK(st.connections_accepted == 3 && st.messages_out >= 7, "server stats count it");
  server.stop();
  CHECK(cj.wait_for_start("close 1001 ", 3), "stop(): every client gets 1001: " + cj.all());
  CHECK(server.wait_closed(check::wait_time), "wait_closed() -> true");
  CHECK(server.connection_count() == 0, "no connection left");
  CHECK(check::error_of([&] { conns.back().send_text("late"); }) == WS_ERR_NOT_OPEN,
        "a held reference of a closed connection throws WS_ERR_NOT_OPEN");
}

static void test_flow_control_and_process_calls() {
  check::note("backpressure and on_drain; pause and resume; the process-wide calls");
  journal sj, cj;
  ws::server server("127.0.0.1", 0, check::journaling(sj));
  ws::client client(check::url_of(server), check::journaling(cj), ws::client_config().send_watermarks(1024, 4096));
  ws::connection conn = client.connection();
  conn.wait_open(check::wait_time);
  const std::string big(64 * 1024, 'x');
  CHECK(conn.send_binary(ws::bytes_view(big)) == ws::send_result::backpressure,
        "64 KiB over a 4 KiB high-water mark: send_result::backpressure");
  CHECK(cj.wait_for("drain"), "on_drain once it was written");
  CHECK(sj.wait_for("binary " + big), "the message arrived whole");
  CHECK(conn.buffered_amount() <= 1024, "buffered_amount() is back under the low-water mark");

  // pause(): the client stops reading, so the server's echoes wait; resume() lets them in.
  ws::server echo("127.0.0.1", 0, echo_handlers(sj));
  journal pj;
  ws::client paused(check::url_of(echo), check::journaling(pj));
  ws::connection pc = paused.connection();
  pc.wait_open(check::wait_time);
  pc.pause();
  for (int i = 0; i < 3; i++) pc.send_text("held");
  CHECK(sj.wait_for("text held", 3), "a paused connection still sends");
  CHECK(!pj.wait_for("text held", 2, 300ms), "paused: at most one echo read");
  pc.resume();
  CHECK(pj.wait_for("text held", 3), "resume(): every echo comes in");

  // reuse_port(): a second server takes the same port.
  ws::server first("127.0.0.1", 0, ws::handlers{}, ws::server_config().reuse_port());
  ws::server second("127.0.0.1", first.port(), ws::handlers{}, ws::server_config().reuse_port());
  CHECK(second.port() == first.port(), "reuse_port(): two servers listen on one port");

  CHECK(ws::version() == ws_version() && !ws::version().empty(), "version(): " + std::string(ws::version()));
  ws::init();
  unsigned threads = ws::io_threads();
  CHECK(threads >= 1, "io_threads() = " + std::to_string(threads));
  CHECK_THROWS(WS_ERR_BAD_STATE, "set_io_threads(another count) once running", ws::set_io_threads(threads + 1));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "set_event_queue_limit(1)", ws::set_event_queue_limit(1));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "set_memory_budget(0, 0)", ws::set_memory_budget(0, 0));
}

int main() {
  test_echo_and_close_from_client();
  test_close_from_server();
  test_handshake_and_options();
  test_connections_and_broadcast();
  test_flow_control_and_process_calls();
  return check::summary();
}
