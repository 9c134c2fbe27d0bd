// test_many: one server, many clients at once, each sending messages and
// sending from several threads, with every connection's handlers possibly on
// different I/O threads (WS_IO_THREADS=4 in make test-threads): each message
// is echoed once, in order per connection, and every connection closes 1000.
#include <atomic>
#include <thread>
#include <vector>

#include "check.hpp"

using namespace std::chrono_literals;

constexpr int clients = 40;
constexpr int messages = 25;

// What one client saw; written by its handlers (one connection's never overlap).
struct seen {
  std::atomic<int> echoes{0};
  std::atomic<bool> in_order{true};
  std::atomic<int> close_code{0};
};

int main() {
  check::note("40 clients, 25 messages each, sent from 4 threads");
  std::atomic<int> server_opens{0}, server_closes{0}, server_messages{0};
  ws::handlers sh;
  sh.on_open = [&](ws::connection) { server_opens++; };
  sh.on_text = [&](ws::connection c, std::string_view t) {
    server_messages++;
    c.send_text(t);
  };
  sh.on_close = [&](ws::connection, ws::close_code, std::string_view) { server_closes++; };
  ws::server server("127.0.0.1", 0, sh);

  std::vector<seen> seen_by(clients);
  std::vector<ws::client> conns;
  for (int i = 0; i < clients; i++) {
    seen &s = seen_by[i];
    ws::handlers h;
    h.on_text = [&s](ws::connection, std::string_view t) {
      if (t != std::to_string(s.echoes)) s.in_order = false;
      s.echoes++;
    };
    h.on_close = [&s](ws::connection, ws::close_code code, std::string_view) { s.close_code = static_cast<int>(code); };
    conns.emplace_back(check::url_of(server), std::move(h));
  }
  for (ws::client &c : conns) c.connection().wait_open(check::wait_time);
  CHECK(check::counts(server, clients), "all 40 connected");

  std::vector<std::thread> senders;
  for (int t = 0; t < 4; t++)
    senders.emplace_back([&, t] {
      for (int i = t; i < clients; i += 4)
        for (int m = 0; m < messages; m++) conns[i].connection().send_text(std::to_string(m));
    });
  for (std::thread &t : senders) t.join();

  auto end = std::chrono::steady_clock::now() + check::wait_time;
  auto all_echoed = [&] {
    for (seen &s : seen_by)
      if (s.echoes < messages) return false;
    return true;
  };
  while (!all_echoed() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  CHECK(all_echoed(), "every client got its 25 echoes");
  bool in_order = true;
  for (seen &s : seen_by) in_order = in_order && s.in_order && s.echoes == messages;
  CHECK(in_order, "each exactly once and in order");
  CHECK(server_messages == clients * messages, "the server counted 1000 messages");

  for (ws::client &c : conns) c.connection().close(ws::close_code::ok, "done");
  CHECK(server.wait_closed(check::wait_time), "the server has no connection left");
  auto all_closed = [&] {
    for (seen &s : seen_by)
      if (s.close_code == 0) return false;
    return true;
  };
  for (end = std::chrono::steady_clock::now() + check::wait_time;
       !all_closed() && std::chrono::steady_clock::now() < end;)
    std::this_thread::sleep_for(10ms);
  bool all_1000 = true;
  for (seen &s : seen_by) all_1000 = all_1000 && s.close_code == WS_OK;
  CHECK(all_1000, "every client's on_close got 1000");
  CHECK(server_opens == clients, "the server saw 40 opens");
  conns.clear();  // frees the clients: their handlers may no longer run
  for (end = std::chrono::steady_clock::now() + check::wait_time;
       server_closes < clients && std::chrono::steady_clock::now() < end;)
    std::this_thread::sleep_for(10ms);
  CHECK(server_closes == clients, "and 40 closes");
  return check::summary();
}
