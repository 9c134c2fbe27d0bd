/*
 * idle_memory: resident memory per idle connection, with and without
 * permessage-deflate.
 *
 *   build/bench/idle_memory [--connections N] [--deflate] [--window-bits B]
 *                           [--memory-level M] [--no-context-takeover]
 *                           [--tls CA CERT KEY]
 *
 * Opens N client connections to a server in this process (so each connection
 * is counted twice: its client end and its server end), sends one 20 KiB
 * message each way on each (so compressors and inflaters have worked), waits
 * until all is idle, and prints the growth of the resident set size per
 * connection end. With --tls the connections are wss:// (server CERT and KEY,
 * the client trusts CA).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#include "websocket.h"

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long echoes;

static void server_echo(void *u, ws_conn *c, ws_message_type t, const uint8_t *d, size_t n) {
  (void)u;
  ws_conn_send(c, t, d, n);
}

static void client_got(void *u, ws_conn *c, ws_message_type t, const uint8_t *d, size_t n) {
  (void)u; (void)c; (void)t; (void)d; (void)n;
  pthread_mutex_lock(&lock);
  echoes++;
  pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
  int n = 500, deflate = 0, bits = 15, nct = 0, mem_level = 8;
  const char *ca = NULL, *cert = NULL, *key = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) n = atoi(argv[++i]);
    else if (strcmp(argv[i], "--deflate") == 0) deflate = 1;
    else if (strcmp(argv[i], "--window-bits") == 0 && i + 1 < argc) bits = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-context-takeover") == 0) nct = 1;
    else if (strcmp(argv[i], "--memory-level") == 0 && i + 1 < argc) mem_level = atoi(argv[++i]);
    else if (strcmp(argv[i], "--tls") == 0 && i + 3 < argc) ca = argv[i + 1], cert = argv[i + 2], key = argv[i + 3], i += 3;
    else { fprintf(stderr, "usage: idle_memory [--connections N] [--deflate] [--window-bits B] [--memory-level M] [--no-context-takeover] [--tls CA CERT KEY]\n"); return 2; }
  }
  ws_callbacks scb = WS_CALLBACKS_INIT, ccb = WS_CALLBACKS_INIT;
  scb.on_message = server_echo;
  ccb.on_message = client_got;
  ws_server_config *sc = ws_server_config_new();
  ws_client_config *cc = ws_client_config_new();
  if (deflate) {
    ws_server_config_set_deflate_max_window_bits(sc, bits, bits);
    ws_client_config_set_deflate_max_window_bits(cc, bits, bits);
    ws_server_config_set_deflate_no_context_takeover(sc, nct, nct);
    ws_server_config_set_deflate_memory_level(sc, mem_level);
    ws_client_config_set_deflate_memory_level(cc, mem_level);
    ws_client_config_set_deflate_no_context_takeover(cc, nct, nct);
  }
  if (ca && (ws_server_config_set_tls_cert_file(sc, cert, key) != WS_STATUS_OK ||
             ws_client_config_set_tls_system_roots(cc, 0) != WS_STATUS_OK ||
             ws_client_config_add_tls_ca_file(cc, ca) != WS_STATUS_OK)) {
    fprintf(stderr, "--tls: %s\n", ws_last_error_message());
    return 1;
  }
  ws_server *srv = ws_server_listen("127.0.0.1", 0, sc, &scb, NULL);
  if (!srv) { fprintf(stderr, "listen: %s\n", ws_last_error_message()); return 1; }
  char url[64];
  snprintf(url, sizeof url, "%s://127.0.0.1:%u/", ca ? "wss" : "ws", ws_server_port(srv));
  ws_client **clients = calloc((size_t)n, sizeof *clients);
  char *msg = malloc(20480);
  for (int i = 0; i < 20480; i++) msg[i] = (char)('a' + (i * 31 + i / 7) % 26);

  ws_init();
  sleep_ms(100);
  long before = rss_kib();
  for (int i = 0; i < n; i++) {
    clients[i] = ws_client_connect(url, cc, &ccb, NULL);
    if (!clients[i] || ws_conn_wait_open(ws_client_conn(clients[i]), 10000) != WS_STATUS_OK) {
      fprintf(stderr, "connect %d: %s\n", i, ws_last_error_message());
      return 1;
    }
    ws_conn_send_text(ws_client_conn(clients[i]), msg, 20480);
  }
  for (int tries = 0; tries < 1000; tries++) {
    pthread_mutex_lock(&lock);
    long done = echoes;
    pthread_mutex_unlock(&lock);
    if (done == n) break;
    sleep_ms(10);
  }
  sleep_ms(300);
  long after = rss_kib();
  if (deflate)
    printf("%d connections (%d ends), deflate on, memory level %d: %s\n", n, 2 * n, mem_level,
           ws_conn_extensions(ws_client_conn(clients[0])));
  else
    printf("%d connections (%d ends), no compression\n", n, 2 * n);
  printf("  resident memory grew %ld KiB: %.1f KiB per connection end\n", after - before,
         (double)(after - before) / (2.0 * n));
  for (int i = 0; i < n; i++) ws_client_free(clients[i]);
  ws_server_free(srv);
  ws_server_config_free(sc);
  ws_client_config_free(cc);
  free(clients);
  free(msg);
  return 0;
}
