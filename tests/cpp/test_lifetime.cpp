// test_lifetime: ownership in the wrapper. Moving servers, clients, configs
// and connection references (and what a moved-from one does); when the
// handlers' captures are destroyed: right after the destructor outside
// callbacks, soon after (on another thread) when a server or client is
// destroyed inside one of its own callbacks, and never while one runs.
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>

#include "check.hpp"

using check::journal;
using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<ws::server> && !std::is_copy_assignable_v<ws::server>, "server: no copy");
static_assert(!std::is_copy_constructible_v<ws::client> && !std::is_copy_assignable_v<ws::client>, "client: no copy");
static_assert(!std::is_copy_constructible_v<ws::connection_ref>, "connection_ref: no copy");
static_assert(!std::is_copy_constructible_v<ws::server_config> && !std::is_copy_constructible_v<ws::client_config>,
              "configs: no copy");
static_assert(std::is_nothrow_move_constructible_v<ws::server> && std::is_nothrow_move_assignable_v<ws::server> &&
                  std::is_nothrow_move_constructible_v<ws::client> && std::is_nothrow_move_assignable_v<ws::client> &&
                  std::is_nothrow_move_constructible_v<ws::connection_ref> &&
                  std::is_nothrow_move_assignable_v<ws::connection_ref>,
              "handles move without throwing");
static_assert(std::is_trivially_copyable_v<ws::connection> && std::is_trivially_copyable_v<ws::bytes_view>,
              "views are plain values");

// Waits until `token` has no owner left; true if within the test's wait time.
static bool expires(const std::weak_ptr<int> &token) {
  for (auto end = std::chrono::steady_clock::now() + check::wait_time; std::chrono::steady_clock::now() < end;) {
    if (token.expired()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return token.expired();
}

static ws::handlers echo(journal &j) {
  ws::handlers h = check::journaling(j);
  h.on_text = [](ws::connection c, std::string_view t) { c.send_text(t); };
  return h;
}

static void test_moves() {
  check::note("moving servers, clients, references and configs");
  journal sj, cj;
  ws::server a("127.0.0.1", 0, echo(sj));
  std::uint16_t port = a.port();
  ws::server b(std::move(a));
  CHECK(b.port() == port, "a moved server keeps listening on its port");
  CHECK_THROWS(WS_ERR_NULL, "port() of the moved-from server", (void)a.port());
  CHECK_THROWS(WS_ERR_NULL, "stop() of the moved-from server", a.stop());

  ws::client c1(check::url_of(b), check::journaling(cj));
  ws::client c2(std::move(c1));
  c2.connection().wait_open(check::wait_time);
  c2.connection().send_text("moved");
  CHECK(cj.wait_for("text moved"), "a moved client's connection and handlers work");
  CHECK_THROWS(WS_ERR_NULL, "connection() of the moved-from client", (void)c1.connection());

  ws::connection_ref r1 = c2.connection().retain();
  ws::connection_ref r2 = std::move(r1);
  CHECK(r2.state() == ws::conn_state::open, "a moved reference works");
  CHECK_THROWS(WS_ERR_NULL, "send_text on the moved-from reference", r1.send_text("x"));
  r1 = std::move(r2);
  CHECK(r1.id() == c2.connection().id(), "move-assigned back, it is the same connection");

  ws::server_config cfg;
  ws::server_config cfg2(std::move(cfg));
  CHECK_THROWS(WS_ERR_NULL, "a setter of a moved-from config", cfg.deflate());
  CHECK_THROWS(WS_ERR_NULL, "a server given a moved-from config", ws::server("127.0.0.1", 0, {}, cfg));
  ws::server d("127.0.0.1", 0, {}, cfg2.max_connections(100));
  CHECK(d.port() != b.port(), "a server from a moved config listens");

  // Move-assigning over a server frees the one it held: its client gets 1001.
  b = std::move(d);
  CHECK(cj.wait_for_start("close 1001"), "assigning over a server closed its connections with 1001");

  std::vector<ws::client> many;
  for (int i = 0; i < 20; i++) many.emplace_back(check::url_of(b));  // the vector moves them as it grows
  for (ws::client &c : many) c.connection().wait_open(check::wait_time);
  CHECK(check::counts(b, 20), "20 clients moved around inside a vector all connected");
}

static void test_handlers_freed_with_their_owner() {
  check::note("the handlers' captures go when their server or client goes");
  journal sj;
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  std::optional<ws::server> server(std::in_place, "127.0.0.1", 0, echo(sj));
  ws::handlers h;
  h.on_text = [token](ws::connection, std::string_view) {};
  std::optional<ws::client> client(std::in_place, check::url_of(*server), std::move(h));
  token.reset();
  client->connection().wait_open(check::wait_time);
  client->connection().send_text("x");
  CHECK(!watch.expired(), "the client's handlers hold the capture while it lives");
  client.reset();
  CHECK(watch.expired(), "destroyed outside callbacks: the captures are gone when the destructor returns");
  CHECK(sj.wait_for_start("close 1001"), "the freed client closed with 1001");
}

static void test_destroyed_inside_callbacks() {
  check::note("a server and a client destroyed inside their own callbacks");
  journal sj, cj;
  std::atomic<bool> destroyed{false};
  std::atomic<int> after{0};
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;

  std::optional<ws::server> server;
  ws::handlers sh = check::journaling(sj);
  sh.on_text = [&, token](ws::connection, std::string_view t) {
    if (t != "free-server") return;
    server.reset();  // from its own callback: returns at once
    destroyed = true;
    sj.add(watch.expired() ? "captures gone too early" : "server freed");
  };
  sh.on_close = [&](ws::connection, ws::close_code, std::string_view) {
    if (destroyed) after++;  // no handler may start once the destructor returned
  };
  server.emplace("127.0.0.1", 0, sh);
  token.reset();
  sh = {};  // the server holds the only copy now
  std::string url = check::url_of(*server);

  ws::client client(url, check::journaling(cj));
  client.connection().wait_open(check::wait_time);
  client.connection().send_text("free-server");
  CHECK(sj.wait_for("server freed"), "the server was destroyed inside its on_text, which went on safely");
  CHECK(expires(watch), "its handlers' captures went soon after, on another thread");
  CHECK(cj.wait_for_start("close 1001"), "its client got 1001");
  CHECK(after == 0, "no server handler started after the destructor returned");

  journal j2;
  auto token2 = std::make_shared<int>(0);
  std::weak_ptr<int> watch2 = token2;
  ws::server echo_server("127.0.0.1", 0, echo(j2));
  std::optional<ws::client> self_freeing;
  ws::handlers ch;
  ch.on_text = [&, token2](ws::connection, std::string_view) {
    self_freeing.reset();
    j2.add("client freed");
  };
  self_freeing.emplace(check::url_of(echo_server), std::move(ch));
  token2.reset();
  self_freeing->connection().wait_open(check::wait_time);
  self_freeing->connection().send_text("bye");
  CHECK(j2.wait_for("client freed"), "a client destroyed inside its own on_text");
  CHECK(expires(watch2), "its captures went soon after");
  CHECK(j2.wait_for_start("close 1001"), "the server saw it close with 1001");
}

int main() {
  test_moves();
  test_handlers_freed_with_their_owner();
  test_destroyed_inside_callbacks();
  return check::summary();
}
