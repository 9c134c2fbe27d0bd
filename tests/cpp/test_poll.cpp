// test_poll: dispatch_mode::poll. Handlers run only inside ws::dispatch(), on
// the thread that calls it, woken through ws::event_fd(); exceptions stay
// inside dispatch; a server destroyed inside a polled handler.
#include <poll.h>

#include <optional>
#include <thread>

#include "check.hpp"

using check::journal;
using namespace std::chrono_literals;

// Dispatches (waiting on the event fd) until `line` is in `j`, or the test's
// wait time passes; true if it came. Counts dispatch() results in *events.
static bool pump_until(journal &j, const std::string &line, int *events = nullptr) {
  auto end = std::chrono::steady_clock::now() + check::wait_time;
  while (j.count(line) == 0 && std::chrono::steady_clock::now() < end) {
    pollfd p{ws::event_fd(), POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      int n = ws::dispatch();
      if (events) *events += n;
    }
  }
  return j.count(line) > 0;
}

static void test_polled_echo() {
  check::note("a polled server and client: handlers inside dispatch(), on this thread");
  const std::thread::id me = std::this_thread::get_id();
  journal j;
  int elsewhere = 0;  // written by handlers, which run on this thread only
  ws::handlers sh;
  sh.on_open = [&](ws::connection) {
    elsewhere += std::this_thread::get_id() != me;
    j.add("server open");
  };
  sh.on_text = [&](ws::connection c, std::string_view t) {
    elsewhere += std::this_thread::get_id() != me;
    if (t == "throw") throw std::runtime_error("thrown inside dispatch");
    c.send_text(t);
  };
  sh.on_close = [&](ws::connection, ws::close_code code, std::string_view) {
    j.add("server close " + std::to_string(static_cast<int>(code)));
  };
  ws::server server("127.0.0.1", 0, sh, ws::server_config().dispatch(ws::dispatch_mode::poll));

  ws::handlers ch = check::journaling(j);
  ch.on_text = [&](ws::connection, std::string_view t) {
    elsewhere += std::this_thread::get_id() != me;
    j.add("text " + std::string(t));
  };
  ws::client client(check::url_of(server), ch, ws::client_config().dispatch(ws::dispatch_mode::poll));
  ws::connection conn = client.connection();
  conn.wait_open(check::wait_time);  // the connection opens without dispatching; its events wait
  CHECK(j.count("open") == 0 && j.count("server open") == 0, "no handler ran before dispatch()");
  CHECK(ws::event_fd() >= 0, "event_fd() is a descriptor");
  int events = 0;
  CHECK(pump_until(j, "open", &events) && pump_until(j, "server open", &events), "on_open of both via dispatch()");
  conn.send_text("polled");
  CHECK(pump_until(j, "text polled", &events), "the echo arrives through dispatch()");
  CHECK(events >= 4, "dispatch() counted the events it ran (" + std::to_string(events) + ")");

  conn.send_text("one");
  conn.send_text("two");
  bool one_at_a_time = true;
  for (auto end = std::chrono::steady_clock::now() + check::wait_time;
       j.count("text two") == 0 && std::chrono::steady_clock::now() < end;) {
    int before = j.count("text one") + j.count("text two");
    int n = ws::dispatch(1);
    one_at_a_time = one_at_a_time && n <= 1 && j.count("text one") + j.count("text two") - before <= 1;
    if (n == 0) std::this_thread::sleep_for(2ms);
  }
  CHECK(one_at_a_time, "dispatch(1) ran at most one event each time");
  CHECK(j.all().find("text one | text two") != std::string::npos, "both came, in order");

  bool escaped = false;
  conn.send_text("throw");
  try {
    pump_until(j, "close 1011 internal error");
  } catch (...) {
    escaped = true;
  }
  CHECK(!escaped && j.count("close 1011 internal error") == 1,
        "a handler throwing inside dispatch(): nothing escapes, the connection gets 1011");
  CHECK(pump_until(j, "server close 1011"), "the server's on_close ran too");
  CHECK(elsewhere == 0, "every handler ran on this thread");
}

static void test_destroyed_inside_polled_handler() {
  check::note("a polled server destroyed inside its own handler");
  journal j;
  std::optional<ws::server> server;
  ws::handlers sh;
  sh.on_text = [&](ws::connection, std::string_view) {
    server.reset();
    j.add("freed");
  };
  server.emplace("127.0.0.1", 0, sh, ws::server_config().dispatch(ws::dispatch_mode::poll));
  ws::client client(check::url_of(*server), check::journaling(j), ws::client_config().dispatch(ws::dispatch_mode::poll));
  client.connection().wait_open(check::wait_time);
  client.connection().send_text("free yourself");
  CHECK(pump_until(j, "freed"), "the server was destroyed inside its polled on_text");
  auto end = std::chrono::steady_clock::now() + check::wait_time;
  while (j.count_start("close 1001 ") == 0 && std::chrono::steady_clock::now() < end) {
    ws::dispatch();
    std::this_thread::sleep_for(5ms);
  }
  CHECK(j.count_start("close 1001 ") == 1, "its client got 1001: " + j.all());
}

int main() {
  test_polled_echo();
  test_destroyed_inside_polled_handler();
  return check::summary();
}
