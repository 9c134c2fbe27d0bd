/*
 * fanout_server: the fan-out benchmark's server on topics.
 *
 *   fanout_server --host H --port P [--broadcast] [--threads N]
 *
 * Every connection subscribes to the topic "all" when it opens, and every
 * message received is published to it (ws_server_publish): each message goes
 * to every connection, the sender included, encoded once. The same contract
 * as tests/bench/publish_bun.js (Bun's server.publish) and the side-by-side
 * kit's `--broadcast` servers, so tests/bench/fanout.sh (or the kit's scenario
 * i, as FANOUT_CMD) can run them side by side. --broadcast is accepted and
 * ignored. SIGINT/SIGTERM stops it.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "websocket.h"

static _Atomic(ws_server *) the_server; /* set once ws_server_listen returns */

static void on_open(void *user_data, ws_conn *conn) {
  (void)user_data;
  if (ws_conn_subscribe(conn, "all") != WS_STATUS_OK)
    fprintf(stderr, "fanout_server: subscribe: %s\n", ws_last_error_message());
}

static void on_message(void *user_data, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  (void)user_data;
  (void)conn;
  ws_server *s = atomic_load_explicit(&the_server, memory_order_acquire);
  if (s && ws_server_publish(s, "all", type, data, len) < 0)
    fprintf(stderr, "fanout_server: publish: %s\n", ws_last_error_message());
}

static void usage(void) {
  fprintf(stderr, "usage: fanout_server --host H --port P [--broadcast] [--threads N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  long port = 9001, threads = 1;
  for (int i = 1; i < argc; i++) {
    char *end;
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = strtol(argv[++i], &end, 10);
      if (*end || threads < 0 || threads > 256) usage();
    } else if (strcmp(argv[i], "--broadcast") != 0) {
      usage();
    }
  }
  /* Blocked before the library starts its threads, taken by sigwait below. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  if (ws_set_io_threads((int)threads) != WS_STATUS_OK) {
    fprintf(stderr, "fanout_server: %s\n", ws_last_error_message());
    return 1;
  }
  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_open = on_open;
  callbacks.on_message = on_message;
  ws_server_config *config = ws_server_config_new();
  ws_server_config_set_max_connections(config, 60000);
  ws_server *server = ws_server_listen(host, (uint16_t)port, config, &callbacks, NULL);
  ws_server_config_free(config);
  if (!server) {
    fprintf(stderr, "fanout_server: %s\n", ws_last_error_message());
    return 1;
  }
  atomic_store_explicit(&the_server, server, memory_order_release);
  fprintf(stderr, "fanout_server: libwebsocket %s listening on ws://%s:%u/ (topic \"all\")\n", ws_version(), host,
          ws_server_port(server));
  int sig;
  sigwait(&stop_signals, &sig);
  atomic_store_explicit(&the_server, NULL, memory_order_release);
  ws_server_stop(server);
  ws_server_wait_closed(server, 2000);
  ws_server_free(server);
  return 0;
}
