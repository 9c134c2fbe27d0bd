/*
 * echo_bench: message throughput and round-trip latency through the C ABI.
 *
 *   build/bench/echo_bench [--messages N] [--size BYTES] [--window W]
 *
 * Starts an echo server and one client in this process, both on the library's
 * I/O thread (WS_DISPATCH_THREAD), over 127.0.0.1. Three measurements:
 *   1. pipelined echo: the client keeps W messages of SIZE bytes in flight and
 *      sends the next one as each echo comes back, for N messages;
 *   2. ping-pong latency: one message in flight at a time (N / 10 round trips);
 *   3. bulk: 1 MiB binary messages echoed, 256 MiB in total.
 * Prints messages/s and MB/s (payload bytes, one direction) per measurement.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "websocket.h"

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  long remaining_to_send; /* messages still to send */
  long remaining_to_recv; /* echoes still to receive */
  const uint8_t *payload;
  size_t size;
  int done;
} run_state;

static run_state state = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0, 0};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void server_echo(void *user_data, ws_conn *conn, ws_message_type type,
                        const uint8_t *data, size_t len) {
  (void)user_data;
  ws_conn_send(conn, type, data, len);
}

/* Each echo that comes back lets the client send the next message. */
static void client_on_message(void *user_data, ws_conn *conn, ws_message_type type,
                              const uint8_t *data, size_t len) {
  (void)user_data; (void)type; (void)data; (void)len;
  if (state.remaining_to_send > 0) {
    state.remaining_to_send--;
    ws_conn_send_binary(conn, state.payload, state.size);
  }
  if (--state.remaining_to_recv == 0) {
    pthread_mutex_lock(&state.lock);
    state.done = 1;
    pthread_cond_signal(&state.done_cond);
    pthread_mutex_unlock(&state.lock);
  }
}

/* Sends `count` messages of `size` bytes with `window` in flight; returns seconds. */
static double run(ws_conn *conn, long count, size_t size, long window) {
  uint8_t *payload = malloc(size ? size : 1);
  memset(payload, 'x', size);
  if (window > count) window = count;
  pthread_mutex_lock(&state.lock);
  state.payload = payload;
  state.size = size;
  state.remaining_to_send = count - window;
  state.remaining_to_recv = count;
  state.done = 0;
  double start = now_s();
  for (long i = 0; i < window; i++) ws_conn_send_binary(conn, payload, size);
  while (!state.done) pthread_cond_wait(&state.done_cond, &state.lock);
  pthread_mutex_unlock(&state.lock);
  double elapsed = now_s() - start;
  free(payload);
  return elapsed;
}

static void report(const char *name, long count, size_t size, double secs) {
  printf("%-34s %9ld msgs %8zu B  %8.3f s  %12.0f msg/s  %9.1f MB/s\n", name, count, size,
         secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
}

int main(int argc, char **argv) {
  long messages = 1000000, window = 64;
  size_t size = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--messages") == 0) messages = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--size") == 0) size = (size_t)atol(argv[i + 1]);
    else if (strcmp(argv[i], "--window") == 0) window = atol(argv[i + 1]);
    else { fprintf(stderr, "usage: echo_bench [--messages N] [--size B] [--window W]\n"); return 2; }
  }
  ws_callbacks server_cb = {0}, client_cb = {0};
  server_cb.on_message = server_echo;
  client_cb.on_message = client_on_message;
  ws_server *server = ws_server_listen("127.0.0.1", 0, NULL, &server_cb, NULL);
  if (!server) { fprintf(stderr, "listen: %s\n", ws_last_error_message()); return 1; }
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/", ws_server_port(server));
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_set_max_message_size(cfg, 64u << 20);
  ws_client *client = ws_client_connect(url, cfg, &client_cb, NULL);
  ws_client_config_free(cfg);
  ws_conn *conn = client ? ws_client_conn(client) : NULL;
  if (!conn || ws_conn_wait_open(conn, 5000) != WS_STATUS_OK) {
    fprintf(stderr, "connect: %s\n", ws_last_error_message());
    return 1;
  }
  printf("libwebsocket %s, echo over 127.0.0.1, client and server in one process\n",
         ws_version());
  char name[64];
  snprintf(name, sizeof name, "pipelined echo (window %ld)", window);
  report(name, messages, size, run(conn, messages, size, window));
  long rtts = messages / 10 > 0 ? messages / 10 : 1;
  double secs = run(conn, rtts, size, 1);
  report("ping-pong (1 in flight)", rtts, size, secs);
  printf("%-34s %.1f us per round trip\n", "", secs / (double)rtts * 1e6);
  report("bulk 1 MiB (window 4)", 256, 1 << 20, run(conn, 256, 1 << 20, 4));

  ws_conn_close(conn, WS_OK, "done");
  ws_conn_wait_closed(conn, 5000);
  ws_client_free(client);
  ws_server_free(server);
  return 0;
}
