/*
 * echo_server: echoes every message back to its sender. --deflate accepts
 * permessage-deflate (RFC 7692) from clients that offer it.
 *
 *   echo_server --host H --port P [--deflate] [--tls-cert F --tls-key F]
 *
 * A text message that is exactly "close-me" makes the server close that
 * connection with code 4000 and reason "bye". On SIGINT/SIGTERM it closes every
 * connection with 1001 (going away), waits for the close handshakes, and exits.
 * Prints "listening on ws://H:P/" once it accepts connections.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "websocket.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void on_message(void *user_data, ws_conn *conn, ws_message_type type,
                       const uint8_t *data, size_t len) {
  (void)user_data;
  if (type == WS_MESSAGE_TEXT && len == 8 && memcmp(data, "close-me", 8) == 0) {
    ws_conn_close(conn, 4000, "bye");
    return;
  }
  if (ws_conn_send(conn, type, data, len) != WS_STATUS_OK) {
    fprintf(stderr, "echo_server: echo to %s failed: %s\n",
            ws_conn_peer_address(conn), ws_last_error_message());
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo_server --host H --port P [--deflate] "
          "[--tls-cert F --tls-key F]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  long port = 9001;
  int deflate = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (strcmp(argv[i], "--deflate") == 0) {
      deflate = 1;
    } else if ((strcmp(argv[i], "--tls-cert") == 0 || strcmp(argv[i], "--tls-key") == 0) &&
               i + 1 < argc) {
      fprintf(stderr, "echo_server: %s: TLS is not supported yet\n", argv[i]);
      return 2;
    } else {
      usage();
    }
  }

  ws_callbacks callbacks = {0};
  callbacks.on_message = on_message;
  ws_server_config *config = ws_server_config_new();
  if (deflate) ws_server_config_set_deflate(config, 1); /* permessage-deflate */
  ws_server *server = ws_server_listen(host, (uint16_t)port, config, &callbacks, NULL);
  ws_server_config_free(config);
  if (!server) {
    fprintf(stderr, "echo_server: %s\n", ws_last_error_message());
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const char *fmt = strchr(host, ':') ? "listening on ws://[%s]:%u/\n" : "listening on ws://%s:%u/\n";
  printf(fmt, host, ws_server_port(server));
  fflush(stdout);
  while (!stop_requested) pause();
  /* Close every connection with 1001 and let the close handshakes finish. */
  ws_server_stop(server);
  ws_server_wait_closed(server, 3000);
  ws_server_free(server);
  return 0;
}
