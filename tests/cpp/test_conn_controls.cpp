// test_conn_controls: the connection controls through the wrapper, a
// ws::server and ws::clients in one process over loopback:
// server::adopt (a listening socket of our own), config auto_pong and
// keep_handshake_text, connection::request_text / response_text,
// auto_pong, max_message_size and abort.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "check.hpp"

using check::journal;

// A TCP socket listening on 127.0.0.1, on a free port.
static int listening_socket() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || listen(fd, 16) != 0) return -1;
  return fd;
}

static void test_adopt_and_handshake_text() {
  check::note("server::adopt serves on our socket; the handshake text is kept when asked");
  int fd = listening_socket();
  if (!CHECK(fd >= 0, "a listening socket")) return;
  journal sj;
  ws::handlers h = check::journaling(sj);
  h.on_text = [](ws::connection c, std::string_view t) { c.send_text(t); };
  ws::server server = ws::server::adopt(fd, h, ws::server_config().keep_handshake_text());
  close(fd);  // the server has its own duplicate
  journal cj;
  ws::client client(check::url_of(server, "adopted"), check::journaling(cj), ws::client_config().keep_handshake_text());
  client.connection().wait_open(check::wait_time);
  client.send_text("over the adopted socket");
  CHECK(cj.wait_for("text over the adopted socket"), "the server on the adopted socket echoes");
  std::optional<std::string_view> request = client.connection().request_text();
  std::optional<std::string_view> response = client.connection().response_text();
  CHECK(request && request->rfind("GET /adopted HTTP/1.1\r\n", 0) == 0, "request_text: the request as sent");
  CHECK(response && response->rfind("HTTP/1.1 101 ", 0) == 0, "response_text: the 101 as received");
  std::vector<ws::connection_ref> conns = server.connections();
  CHECK(conns.size() == 1 && conns.front().request_text() == request, "the server kept the same request text");
  CHECK_THROWS(WS_ERR_INVALID_ARGUMENT, "adopting a descriptor that is no listening socket", ws::server::adopt(-1));
  journal plain;
  ws::client other(check::url_of(server), check::journaling(plain));
  other.connection().wait_open(check::wait_time);
  CHECK(!other.connection().request_text(), "without keep_handshake_text: no text");
}

static void test_pongs_limits_abort() {
  check::note("auto_pong off answers nothing; max_message_size closes with 1009; abort closes with 1006");
  journal sj;
  ws::handlers h = check::journaling(sj);
  ws::server server("127.0.0.1", 0, h, ws::server_config().auto_pong(false));
  journal cj;
  ws::client client(check::url_of(server), check::journaling(cj));
  client.connection().wait_open(check::wait_time);
  if (!CHECK(check::counts(server, 1), "the server has the connection")) return;
  ws::connection_ref conn = std::move(server.connections().front());
  client.connection().ping(ws::bytes_view(std::string_view("one")));
  CHECK(sj.wait_for("ping one"), "the server saw the ping");
  CHECK(!cj.wait_for("pong one", 1, std::chrono::milliseconds(300)), "auto_pong(false): no pong came");
  conn.pong(ws::bytes_view(std::string_view("one")));
  CHECK(cj.wait_for("pong one"), "the application's pong came");
  conn.auto_pong(true);
  client.connection().ping(ws::bytes_view(std::string_view("two")));
  CHECK(cj.wait_for("pong two"), "connection::auto_pong(true): the library answers again");

  conn.max_message_size(8);
  client.send_text("just 8 b");
  CHECK(sj.wait_for("text just 8 b"), "a message at the limit arrives");
  client.send_text("nine byte");
  CHECK(cj.wait_for_start("close 1009"), "one over it: closed with 1009");

  journal aj;
  ws::client second(check::url_of(server), check::journaling(aj));
  second.connection().wait_open(check::wait_time);
  second.connection().abort();
  CHECK(aj.wait_for_start("close 1006"), "abort: on_close with 1006");
  CHECK_THROWS(WS_ERR_NOT_OPEN, "abort again", second.connection().abort());
}

int main() {
  test_adopt_and_handshake_text();
  test_pongs_limits_abort();
  return check::summary();
}
