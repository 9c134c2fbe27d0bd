// echo_server (C++): echoes every message back to its sender, as
// examples-c/echo_server.c does, through include/websocket.hpp.
//
//   cpp_echo_server --host H --port P [--deflate] [--tls-cert F --tls-key F]
//
// --deflate accepts permessage-deflate from clients that offer it; with
// --tls-cert and --tls-key (PEM files: certificate chain, private key) the
// port speaks TLS only (wss://). The text "close-me" makes the server close
// that connection with 4000 "bye". On SIGINT/SIGTERM it closes every
// connection with 1001, waits for the close handshakes, and exits. Prints
// "listening on ws://H:P/" (wss:// with TLS) once it accepts connections.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "websocket.hpp"

[[noreturn]] static void usage() {
  std::fprintf(stderr, "usage: cpp_echo_server --host H --port P [--deflate] [--tls-cert F --tls-key F]\n");
  std::exit(2);
}

// Sends an echo with `send`. A failed echo (the connection is closing, or its
// send queue is full) is said on stderr, and the connection goes on.
template <class Send>
static void echo_back(ws::connection conn, Send send) {
  try {
    send();  // send_result::backpressure is queued too
  } catch (const ws::error &e) {
    std::fprintf(stderr, "cpp_echo_server: echo to %s failed: %s\n", std::string(conn.peer_address()).c_str(),
                 e.what());
  }
}

int main(int argc, char **argv) {
  // SIGINT and SIGTERM are blocked before the library starts its threads (they
  // inherit the mask), and main takes them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string host = "127.0.0.1";
  long port = 9001;
  bool deflate = false;
  std::optional<std::string> cert, key;
  for (int i = 1; i < argc; i++) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--host") == 0 && has_value) {
      host = argv[++i];
    } else if (std::strcmp(argv[i], "--port") == 0 && has_value) {
      char *end;
      port = std::strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (std::strcmp(argv[i], "--deflate") == 0) {
      deflate = true;
    } else if (std::strcmp(argv[i], "--tls-cert") == 0 && has_value) {
      cert = argv[++i];
    } else if (std::strcmp(argv[i], "--tls-key") == 0 && has_value) {
      key = argv[++i];
    } else {
      usage();
    }
  }
  if (cert.has_value() != key.has_value()) {
    std::fprintf(stderr, "cpp_echo_server: --tls-cert and --tls-key go together\n");
    return 2;
  }

  ws::handlers echo;
  echo.on_text = [](ws::connection conn, std::string_view text) {
    if (text == "close-me")
      conn.close(ws::close_code{4000}, "bye");
    else
      echo_back(conn, [&] { conn.send_text(text); });
  };
  echo.on_binary = [](ws::connection conn, ws::bytes_view data) {
    echo_back(conn, [&] { conn.send_binary(data); });
  };

  ws::server_config config;
  try {
    if (deflate) config.deflate();
    if (cert) config.tls_cert_file(*cert, *key);
  } catch (const ws::error &e) {  // e.g. an unreadable certificate
    std::fprintf(stderr, "cpp_echo_server: %s\n", e.what());
    return 2;
  }
  std::optional<ws::server> server;
  try {
    server.emplace(host, static_cast<std::uint16_t>(port), echo, config);
  } catch (const ws::error &e) {  // e.g. the address is in use
    std::fprintf(stderr, "cpp_echo_server: %s\n", e.what());
    return 1;
  }
  const char *scheme = server->is_secure() ? "wss" : "ws";
  const bool v6 = host.find(':') != std::string::npos;
  std::printf("listening on %s://%s%s%s:%u/\n", scheme, v6 ? "[" : "", host.c_str(), v6 ? "]" : "", server->port());
  std::fflush(stdout);

  int sig;
  sigwait(&stop_signals, &sig);
  server->stop();  // 1001 to every connection; let the close handshakes finish
  server->wait_closed(std::chrono::seconds(3));
  return 0;
}
