// client (C++): connects to a WebSocket server, sends messages, prints what
// comes back, and closes with 1000, through include/websocket.hpp.
//
//   cpp_client URL [MESSAGE...]
//
// Sends each MESSAGE as a text message, or, without any, each line read from
// stdin (without its "\n"), until stdin ends or the server closes. Prints every
// message received on stdout, one per line. Then closes with 1000 and waits
// for the server's answer. Exit status: 0 when the connection closed with
// 1000; 3 when it closed otherwise (printing "closed: CODE REASON" on
// stderr), e.g. after the echo server's "close-me"; 1 when it could not
// connect (printing why); 2 for a bad command line.
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <string>
#include <utility>

#include "websocket.hpp"

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cpp_client URL [MESSAGE...]\n");
    return 2;
  }
  using namespace std::chrono_literals;

  // Handlers run on the library's I/O thread; only they write to stdout.
  std::promise<std::pair<ws::close_code, std::string>> closed;
  ws::handlers on;
  on.on_text = [](ws::connection, std::string_view text) {
    std::cout << text << std::endl;
  };
  on.on_binary = [](ws::connection, ws::bytes_view data) {
    std::cout.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
    std::cout << std::endl;
  };
  on.on_close = [&closed](ws::connection, ws::close_code code, std::string_view reason) {
    closed.set_value({code, std::string(reason)});
  };

  try {
    ws::client client(argv[1], on);
    ws::connection conn = client.connection();
    conn.wait_open(10s);  // throws why it failed: refused, TLS, handshake ...

    // A send or close finding the connection closing (the server closed
    // first) is the end of the conversation, not a failure.
    auto while_open = [](auto &&call) {
      try {
        call();
        return true;
      } catch (const ws::error &e) {
        if (e.code() != WS_ERR_NOT_OPEN) throw;
        return false;
      }
    };
    if (argc > 2) {
      for (int i = 2; i < argc && while_open([&] { conn.send_text(argv[i]); }); i++) {
      }
    } else {
      for (std::string line; std::getline(std::cin, line) && while_open([&] { conn.send_text(line); });) {
      }
    }
    while_open([&] { conn.close(ws::close_code::ok); });

    auto outcome = closed.get_future();
    if (outcome.wait_for(15s) != std::future_status::ready) {  // the close timeout is 5 s
      std::fprintf(stderr, "cpp_client: the connection did not close\n");
      return 1;
    }
    auto [code, reason] = outcome.get();
    if (code == ws::close_code::ok) return 0;
    std::fprintf(stderr, "closed: %d %s\n", static_cast<int>(code), reason.c_str());
    return 3;
  } catch (const ws::error &e) {
    std::fprintf(stderr, "cpp_client: %s\n", e.what());
    return 1;
  }
}
