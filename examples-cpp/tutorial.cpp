// tutorial.cpp: a WebSocket server and a client in one program, through
// include/websocket.hpp. The client sends "hello", the server echoes it, the
// client prints it and closes. Exits 0 when all of that happened.
#include <chrono>
#include <future>
#include <iostream>
#include <string>

#include "websocket.hpp"

int main() try {
  using namespace std::chrono_literals;

  ws::handlers echo;  // the server's callbacks: lambdas, all optional
  echo.on_text = [](ws::connection conn, std::string_view text) { conn.send_text(text); };
  ws::server server("127.0.0.1", 0, echo);  // port 0: a free port

  std::promise<std::string> answer;  // declared before the client, so it outlives its callbacks
  ws::handlers mine;
  mine.on_text = [&answer](ws::connection, std::string_view text) { answer.set_value(std::string(text)); };
  ws::client client("ws://127.0.0.1:" + std::to_string(server.port()) + "/", mine);

  ws::connection conn = client.connection();  // borrowed: valid while `client` lives
  conn.wait_open(5s);                         // throws ws::error if it could not connect
  conn.send_text("hello");
  std::future<std::string> echoed = answer.get_future();
  if (echoed.wait_for(5s) != std::future_status::ready) return 1;
  std::cout << "echoed: " << echoed.get() << "\n";

  conn.close(ws::close_code::ok, "done");
  return conn.wait_closed(5s) && conn.closed_with() == ws::close_code::ok ? 0 : 1;
} catch (const ws::error &e) {  // e.code() is the status, e.what() says why
  std::cerr << "tutorial: " << e.name() << ": " << e.what() << "\n";
  return 1;
}
