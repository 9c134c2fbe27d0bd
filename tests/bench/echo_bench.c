/*
 * echo_bench: message throughput and round-trip latency through the C ABI.
 *
 *   build/bench/echo_bench [--messages N] [--size BYTES] [--window W] [--deflate]
 *                          [--tls CA CERT KEY]
 *
 * Starts an echo server and one client in this process, both on the library's
 * I/O thread (WS_DISPATCH_THREAD), over 127.0.0.1. Three measurements:
 *   1. pipelined echo: the client keeps W messages of SIZE bytes in flight and
 *      sends the next one as each echo comes back, for N messages;
 *   2. ping-pong latency: one message in flight at a time (N / 10 round trips);
 *   3. bulk: 1 MiB binary messages echoed, 256 MiB in total;
 *   4. JSON: a 64 KiB JSON-like text message echoed, 4 in flight, 2000 times.
 * With --deflate both ends negotiate permessage-deflate (compression threshold
 * 0), so every message is compressed by the sender and inflated by the receiver.
 * With --tls the connection is wss:// (the server uses CERT and KEY, the client
 * trusts CA only); `make bench` makes them with openssl.
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
  ws_message_type type;
  int done;
} run_state;

static run_state state = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, 0,
                          WS_MESSAGE_BINARY, 0};

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
    ws_conn_send(conn, state.type, state.payload, state.size);
  }
  if (--state.remaining_to_recv == 0) {
    pthread_mutex_lock(&state.lock);
    state.done = 1;
    pthread_cond_signal(&state.done_cond);
    pthread_mutex_unlock(&state.lock);
  }
}

/* Sends `count` copies of `payload` with `window` in flight; returns seconds. */
static double run_payload(ws_conn *conn, long count, const uint8_t *payload, size_t size,
                          ws_message_type type, long window) {
  if (window > count) window = count;
  pthread_mutex_lock(&state.lock);
  state.payload = payload;
  state.size = size;
  state.type = type;
  state.remaining_to_send = count - window;
  state.remaining_to_recv = count;
  state.done = 0;
  double start = now_s();
  for (long i = 0; i < window; i++) ws_conn_send(conn, type, payload, size);
  while (!state.done) pthread_cond_wait(&state.done_cond, &state.lock);
  pthread_mutex_unlock(&state.lock);
  return now_s() - start;
}

/* Sends `count` binary messages of `size` bytes 'x' with `window` in flight. */
static double run(ws_conn *conn, long count, size_t size, long window) {
  uint8_t *payload = malloc(size ? size : 1);
  memset(payload, 'x', size);
  double elapsed = run_payload(conn, count, payload, size, WS_MESSAGE_BINARY, window);
  free(payload);
  return elapsed;
}

/* About `size` bytes of JSON-like text: an array of small records. */
static char *json_like(size_t size, size_t *len) {
  char *out = malloc(size + 256);
  size_t n = 0;
  out[n++] = '[';
  for (int i = 0; n < size; i++) {
    n += (size_t)sprintf(out + n,
                         "{\"id\":%d,\"name\":\"user%d\",\"active\":%s,\"score\":%d.%02d,"
                         "\"tags\":[\"alpha\",\"beta%d\"]},",
                         i, i * 7919 % 10007, i % 3 ? "true" : "false", i * 37 % 1000, i % 100, i % 17);
  }
  out[n - 1] = ']';
  *len = n;
  return out;
}

static void report(const char *name, long count, size_t size, double secs) {
  printf("%-34s %9ld msgs %8zu B  %8.3f s  %12.0f msg/s  %9.1f MB/s\n", name, count, size,
         secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
}

int main(int argc, char **argv) {
  long messages = 1000000, window = 64;
  size_t size = 64;
  int deflate = 0;
  const char *ca = NULL, *cert = NULL, *key = NULL;
  const char *usage = "usage: echo_bench [--messages N] [--size B] [--window W] [--deflate] [--tls CA CERT KEY]\n";
  for (int i = 1; i < argc; i += 2) {
    if (strcmp(argv[i], "--deflate") == 0) { deflate = 1; i--; continue; }
    if (strcmp(argv[i], "--tls") == 0 && i + 3 < argc) {
      ca = argv[i + 1], cert = argv[i + 2], key = argv[i + 3];
      i += 2;
      continue;
    }
    if (i + 1 >= argc) { fputs(usage, stderr); return 2; }
    if (strcmp(argv[i], "--messages") == 0) messages = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--size") == 0) size = (size_t)atol(argv[i + 1]);
    else if (strcmp(argv[i], "--window") == 0) window = atol(argv[i + 1]);
    else { fputs(usage, stderr); return 2; }
  }
  ws_callbacks server_cb = WS_CALLBACKS_INIT, client_cb = WS_CALLBACKS_INIT;
  server_cb.on_message = server_echo;
  client_cb.on_message = client_on_message;
  ws_server_config *scfg = ws_server_config_new();
  if (deflate) {
    ws_server_config_set_deflate(scfg, 1);
    ws_server_config_set_compression_threshold(scfg, 0);
  }
  if (cert && ws_server_config_set_tls_cert_file(scfg, cert, key) != WS_STATUS_OK) {
    fprintf(stderr, "--tls: %s\n", ws_last_error_message());
    return 1;
  }
  ws_server *server = ws_server_listen("127.0.0.1", 0, scfg, &server_cb, NULL);
  ws_server_config_free(scfg);
  if (!server) { fprintf(stderr, "listen: %s\n", ws_last_error_message()); return 1; }
  char url[64];
  snprintf(url, sizeof url, "%s://127.0.0.1:%u/", ca ? "wss" : "ws", ws_server_port(server));
  ws_client_config *cfg = ws_client_config_new();
  if (ca && (ws_client_config_set_tls_system_roots(cfg, 0) != WS_STATUS_OK ||
             ws_client_config_add_tls_ca_file(cfg, ca) != WS_STATUS_OK)) {
    fprintf(stderr, "--tls: %s\n", ws_last_error_message());
    return 1;
  }
  ws_client_config_set_max_message_size(cfg, 64u << 20);
  if (deflate) {
    ws_client_config_set_deflate(cfg, 1);
    ws_client_config_set_compression_threshold(cfg, 0);
  }
  ws_client *client = ws_client_connect(url, cfg, &client_cb, NULL);
  ws_client_config_free(cfg);
  ws_conn *conn = client ? ws_client_conn(client) : NULL;
  if (!conn || ws_conn_wait_open(conn, 5000) != WS_STATUS_OK) {
    fprintf(stderr, "connect: %s\n", ws_last_error_message());
    return 1;
  }
  printf("libwebsocket %s, echo over 127.0.0.1%s, client and server in one process%s%s\n",
         ws_version(), ca ? " with TLS" : "", deflate ? ", permessage-deflate: " : "",
         deflate ? ws_conn_extensions(conn) : "");
  char name[64];
  snprintf(name, sizeof name, "pipelined echo (window %ld)", window);
  report(name, messages, size, run(conn, messages, size, window));
  long rtts = messages / 10 > 0 ? messages / 10 : 1;
  double secs = run(conn, rtts, size, 1);
  report("ping-pong (1 in flight)", rtts, size, secs);
  printf("%-34s %.1f us per round trip\n", "", secs / (double)rtts * 1e6);
  report("bulk 1 MiB (window 4)", 256, 1 << 20, run(conn, 256, 1 << 20, 4));
  size_t json_len;
  char *json = json_like(64 * 1024, &json_len);
  report("JSON-like text 64 KiB (window 4)", 2000, json_len,
         run_payload(conn, 2000, (const uint8_t *)json, json_len, WS_MESSAGE_TEXT, 4));
  free(json);

  ws_conn_close(conn, WS_OK, "done");
  ws_conn_wait_closed(conn, 5000);
  ws_client_free(client);
  ws_server_free(server);
  return 0;
}
