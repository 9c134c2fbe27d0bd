/*
 * echo_server: echoes every message back to its sender. --deflate accepts
 * permessage-deflate (RFC 7692) from clients that offer it.
 *
 *   echo_server --host H --port P [--deflate] [--tls-cert F --tls-key F]
 *               [--static DIR] [--threads N] [--verbose]
 *
 * With --tls-cert and --tls-key (PEM files: certificate chain, private key)
 * the port speaks TLS only: wss:// and https://. With --static, requests that
 * are not WebSocket upgrades get the files of DIR (index.html for "/"), so a
 * browser can load a page from the server and open a WebSocket back to it
 * (examples-c/www is such a page). --threads N runs N I/O threads (0: one per
 * CPU; default: WS_IO_THREADS, else 1); connections are spread over them.
 * --verbose prints the library's log lines on stderr (see verbose.h).
 *
 * A text message that is exactly "close-me" makes the server close that
 * connection with code 4000 and reason "bye". On SIGINT/SIGTERM it closes every
 * connection with 1001 (going away), waits for the close handshakes, and exits.
 * Prints "listening on ws://H:P/" (wss:// with TLS) once it accepts connections.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verbose.h"
#include "websocket.h"

static void on_message(void *user_data, ws_conn *conn, ws_message_type type,
                       const uint8_t *data, size_t len) {
  (void)user_data;
  if (type == WS_MESSAGE_TEXT && len == 8 && memcmp(data, "close-me", 8) == 0) {
    ws_conn_close(conn, 4000, "bye");
    return;
  }
  if (ws_conn_send(conn, type, data, len) < 0) { /* WS_STATUS_BACKPRESSURE is queued too */
    fprintf(stderr, "echo_server: echo to %s failed: %s\n",
            ws_conn_peer_address(conn), ws_last_error_message());
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo_server --host H --port P [--deflate] "
          "[--tls-cert F --tls-key F] [--static DIR] [--threads N] [--verbose]\n");
  exit(2);
}

int main(int argc, char **argv) {
  /* SIGINT and SIGTERM are blocked before the library starts its threads (they
     inherit the mask), and main takes them with sigwait: a handler could run on
     any thread and leave main asleep. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  const char *host = "127.0.0.1";
  long port = 9001;
  int deflate = 0;
  const char *cert = NULL, *key = NULL, *static_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (strcmp(argv[i], "--deflate") == 0) {
      deflate = 1;
    } else if (strcmp(argv[i], "--verbose") == 0) {
      verbose_logging();
    } else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else if (strcmp(argv[i], "--static") == 0 && i + 1 < argc) {
      static_dir = argv[++i];
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      char *end;
      long threads = strtol(argv[++i], &end, 10);
      if (*end || threads < 0 || threads > 256) usage();
      if (ws_set_io_threads((unsigned)threads) != WS_STATUS_OK) {
        fprintf(stderr, "echo_server: %s\n", ws_last_error_message());
        return 2;
      }
    } else {
      usage();
    }
  }

  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_message = on_message;
  if (!cert != !key) {
    fprintf(stderr, "echo_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  ws_server_config *config = ws_server_config_new();
  if (deflate) ws_server_config_set_deflate(config, 1); /* permessage-deflate */
  if ((cert && ws_server_config_set_tls_cert_file(config, cert, key) != WS_STATUS_OK) ||
      (static_dir && ws_server_config_set_static_dir(config, static_dir) != WS_STATUS_OK)) {
    fprintf(stderr, "echo_server: %s\n", ws_last_error_message());
    ws_server_config_free(config);
    return 2;
  }
  ws_server *server = ws_server_listen(host, (uint16_t)port, config, &callbacks, NULL);
  ws_server_config_free(config);
  if (!server) {
    fprintf(stderr, "echo_server: %s\n", ws_last_error_message());
    return 1;
  }
  const char *scheme = ws_server_is_secure(server) ? "wss" : "ws";
  const char *fmt = strchr(host, ':') ? "listening on %s://[%s]:%u/\n" : "listening on %s://%s:%u/\n";
  printf(fmt, scheme, host, ws_server_port(server));
  fflush(stdout);
  int sig;
  sigwait(&stop_signals, &sig);
  /* Close every connection with 1001 and let the close handshakes finish. */
  ws_server_stop(server);
  ws_server_wait_closed(server, 3000);
  ws_server_free(server);
  return 0;
}
