// test_errors: failures as ws::error exceptions carrying the library's status
// and sentence (refused connections, bad URLs and options, refused sends, use
// after close), and handlers that throw: the exception stays out of C, the
// connection is closed with 1011 (a handshake rejected with 500).
#include <optional>
#include <stdexcept>

#include "check.hpp"

using check::error_of;
using check::journal;
using namespace std::chrono_literals;

static void test_connect_failures() {
  check::note("refused port, bad URL, timeout: exceptions with code and message");
  journal j;
  ws::client refused("ws://127.0.0.1:1/", check::journaling(j));
  std::string message;
  ws_status status = error_of([&] { refused.connection().wait_open(check::wait_time); }, &message);
  CHECK(status == WS_ERR_CONNECT, std::string("wait_open on a refused port throws WS_ERR_CONNECT (") +
                                      ws_status_name(status) + ")");
  CHECK(message.find("refused") != std::string::npos, "its what() says why: " + message);
  CHECK(j.wait_for("error WS_ERR_CONNECT") && j.wait_for("close 1006 "), "on_error, then on_close with 1006");

  try {
    ws::client bad("http://127.0.0.1/");
    CHECK(false, "a bad URL throws");
  } catch (const std::runtime_error &e) {  // ws::error is a std::runtime_error
    const auto *err = dynamic_cast<const ws::error *>(&e);
    CHECK(err && err->code() == WS_ERR_BAD_URL && std::string(err->name()) == "WS_ERR_BAD_URL" && e.what()[0],
          std::string("a bad URL throws ws::error WS_ERR_BAD_URL at once: ") + e.what());
  }

  // A server that answers upgrade requests only when the test says so.
  std::optional<ws::handshake> waiting;
  journal sj;
  ws::handlers h;
  h.on_handshake = [&](ws::handshake hs) {
    waiting = hs;
    sj.add("asked");
  };
  ws::server slow("127.0.0.1", 0, h);
  ws::client patient(check::url_of(slow));
  CHECK(sj.wait_for("asked"), "the request reached on_handshake, which did not answer");
  status = error_of([&] { patient.connection().wait_open(100ms); }, &message);
  CHECK(status == WS_ERR_TIMEOUT, "wait_open(100ms) throws WS_ERR_TIMEOUT: " + message);
  waiting->accept();  // answered later, from another thread
  patient.connection().wait_open(check::wait_time);
  CHECK(patient.connection().state() == ws::conn_state::open, "accepted from the main thread: open");
  CHECK_THROWS(WS_ERR_BAD_STATE, "a second answer", waiting->accept());
}

static void test_bad_options() {
  check::note("configs and servers refuse bad values with ws::error");
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "server max_message_size(0)", ws::server_config().max_message_size(0));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "deflate_max_window_bits(8, 15)",
               ws::server_config().deflate_max_window_bits(8, 15));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "a negative timeout", ws::server_config().handshake_timeout(-5ms));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "client add_header(\"Host\")", ws::client_config().add_header("Host", "x"));
  CHECK_THROWS(WS_ERR_TLS, "an unreadable certificate",
               ws::server_config().tls_cert_file("/nonexistent.pem", "/nonexistent.key"));
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "a socks proxy", ws::client_config().proxy("socks5://127.0.0.1:1"));
  ws::server first("127.0.0.1", 0);
  CHECK_THROWS(WS_ERR_IO, "a second server on a port in use", ws::server second("127.0.0.1", first.port()));
}

static void test_refused_sends_and_use_after_close() {
  check::note("refused sends; a connection_ref after the close and after its client");
  journal sj, cj;
  ws::handlers echo = check::journaling(sj);
  echo.on_text = [](ws::connection c, std::string_view t) { c.send_text(t); };
  ws::server server("127.0.0.1", 0, echo);
  std::optional<ws::client> client(std::in_place, check::url_of(server), check::journaling(cj));
  ws::connection_ref ref = client->connection().retain();
  ref.wait_open(check::wait_time);

  CHECK_THROWS(WS_ERR_INVALID_UTF8, "send_text of bytes that are not UTF-8", ref.send_text("\xff\xfe"));
  CHECK_THROWS(WS_ERR_TOO_LARGE, "a 126-byte ping", ref.ping(ws::bytes_view(std::string(126, 'p'))));
  CHECK_THROWS(WS_ERR_INVALID_CLOSE_CODE, "close(1005)", ref.close(ws::close_code::no_status));
  CHECK_THROWS(WS_ERR_TOO_LARGE, "a 124-byte close reason", ref.close(ws::close_code::ok, std::string(124, 'r')));
  ref.send_text("still open");
  CHECK(cj.wait_for("text still open"), "the refused calls left the connection open");

  std::uint64_t id = ref.id();
  ref.close(ws::close_code{4002}, "done");
  CHECK(ref.wait_closed(check::wait_time) && cj.wait_for("close 4002 "), "closed with 4002");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "send_text after the close", ref.send_text("late"));
  CHECK_THROWS(WS_ERR_NOT_OPEN, "close after the close", ref.close());
  client.reset();
  CHECK(ref.state() == ws::conn_state::closed && ref.id() == id && ref.closed_with() == ws::close_code{4002},
        "after its client is freed, the reference still answers: closed, same id, 4002");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "send_binary after its client is freed", ref.send_binary(ws::bytes_view()));
  CHECK(sj.wait_for("close 4002 done"), "the server saw 4002 \"done\"");
}

static void test_handlers_that_throw() {
  check::note("handlers that throw: 1011 \"internal error\", the library goes on");
  journal sj;
  ws::handlers h = check::journaling(sj);
  h.on_text = [](ws::connection, std::string_view t) {
    if (t == "throw") throw std::runtime_error("boom");
    if (t == "throw-int") throw 42;
  };
  h.on_binary = [](ws::connection, ws::bytes_view) { throw std::logic_error("no binary here"); };
  h.on_open = [&sj](ws::connection c) {
    sj.add("open");
    if (c.path() == "/throw-on-open") throw std::runtime_error("not this path");
  };
  h.on_close = [&sj](ws::connection, ws::close_code code, std::string_view) {
    sj.add("close " + std::to_string(static_cast<int>(code)));
    throw std::runtime_error("thrown from on_close");
  };
  h.on_ping = [&sj](ws::connection c, ws::bytes_view) {  // blocking here would stall the I/O thread
    sj.add(std::string("wait_closed in a handler: ") + ws_status_name(error_of([&] { c.wait_closed(1s); })));
  };
  h.on_handshake = [](ws::handshake hs) {
    if (hs.path() == "/throw-on-handshake") throw std::runtime_error("no handshake");
    hs.accept();
  };
  ws::server server("127.0.0.1", 0, h);

  const struct {
    const char *path, *message;  // message: nullptr for none
    bool binary;
    const char *what;
  } cases[] = {
      {"", "throw", false, "on_text throwing std::runtime_error"},
      {"", "throw-int", false, "on_text throwing an int"},
      {"", "x", true, "on_binary throwing std::logic_error"},
      {"throw-on-open", nullptr, false, "on_open throwing"},
  };
  for (const auto &c : cases) {
    journal cj;
    ws::client client(check::url_of(server, c.path), check::journaling(cj));
    client.connection().wait_open(check::wait_time);
    if (c.message && c.binary)
      client.connection().send_binary(ws::bytes_view(std::string_view(c.message)));
    else if (c.message)
      client.connection().send_text(c.message);
    CHECK(cj.wait_for("close 1011 internal error"), std::string(c.what) + ": the client gets 1011 \"internal error\"");
  }
  CHECK(sj.wait_for("close 1011", 4), "each on_close ran (and threw) without harm");

  journal cj;
  ws::client pinging(check::url_of(server), check::journaling(cj));
  pinging.connection().wait_open(check::wait_time);
  pinging.connection().ping();
  CHECK(sj.wait_for("wait_closed in a handler: WS_ERR_BAD_STATE"),
        "a wait in a thread-mode handler throws WS_ERR_BAD_STATE instead of blocking");

  ws::client refused(check::url_of(server, "throw-on-handshake"), check::journaling(cj));
  std::string message;
  ws_status status = error_of([&] { refused.connection().wait_open(check::wait_time); }, &message);
  CHECK(status == WS_ERR_HANDSHAKE && message.find("500") != std::string::npos,
        "on_handshake throwing: the request gets 500: " + message);

  ws::client fine(check::url_of(server), check::journaling(cj));
  fine.connection().wait_open(check::wait_time);
  fine.connection().send_text("hello");
  fine.connection().close();
  CHECK(cj.wait_for("close 1000 "), "the server still serves connections normally");
}

int main() {
  test_connect_failures();
  test_bad_options();
  test_refused_sends_and_use_after_close();
  test_handlers_that_throw();
  return check::summary();
}
