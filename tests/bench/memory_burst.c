/*
 * memory_burst: does memory go back to the system after a burst?
 *
 *   build/bench/memory_burst [--clients N] [--message BYTES] [--threads T]
 *
 * A server (in this process) sends every client 64 KiB binary messages until
 * its send queue is full (the default limit, 64 MiB). The N clients (16 by
 * default; raw sockets in this process, so they hold no user-space memory)
 * complete the handshake and never read, so the server ends up holding about
 * N x 64 MiB. Then the clients leave. Prints the process's resident set size
 * (VmRSS) before the burst, at its peak, and every second for 10 s after the
 * clients left, and whether it came back to within 32 MiB of where it began.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "websocket.h"

static size_t message_size = 64 * 1024;
static atomic_int full;    /* connections whose send queue is full */
static atomic_int closed;  /* connections closed */
static uint8_t *payload;

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f)) {
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  }
  if (f) fclose(f);
  return kib;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Fills the connection's send queue: called on its I/O thread. */
static void on_open(void *user_data, ws_conn *conn) {
  (void)user_data;
  while (ws_conn_send_binary(conn, payload, message_size) >= 0) { /* past backpressure, to the limit */
  }
  atomic_fetch_add(&full, 1);
}

static void on_close(void *user_data, ws_conn *conn, uint16_t code, const char *reason) {
  (void)user_data, (void)conn, (void)code, (void)reason;
  atomic_fetch_add(&closed, 1);
}

/* A client that completes the handshake and never reads. */
static int raw_client(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int small = 64 * 1024; /* keep the kernel's share small */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    exit(1);
  }
  const char *req =
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
    perror("write");
    exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  int clients = 16;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
      clients = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--message") == 0 && i + 1 < argc) {
      message_size = (size_t)atol(argv[++i]);
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      ws_set_io_threads((unsigned)atoi(argv[++i]));
    } else {
      fprintf(stderr, "usage: memory_burst [--clients N] [--message BYTES] [--threads T]\n");
      return 2;
    }
  }
  payload = malloc(message_size);
  memset(payload, 'm', message_size);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = on_open;
  cb.on_close = on_close;
  ws_server *server = ws_server_listen("127.0.0.1", 0, NULL, &cb, NULL);
  if (!server) {
    fprintf(stderr, "memory_burst: %s\n", ws_last_error_message());
    return 1;
  }
  int port = ws_server_port(server);
  sleep_ms(200);
  long before = rss_kib();

  int *fds = calloc((size_t)clients, sizeof *fds);
  for (int i = 0; i < clients; i++) fds[i] = raw_client(port);
  while (atomic_load(&full) < clients) sleep_ms(10);
  sleep_ms(300);
  long peak = rss_kib();
  printf("%d clients that do not read, %zu-byte messages, %d I/O thread(s)\n", clients, message_size,
         ws_io_threads());
  printf("RSS before the burst: %7.1f MiB\n", before / 1024.0);
  printf("RSS at its peak:      %7.1f MiB (%.1f MiB queued per client)\n", peak / 1024.0,
         (peak - before) / 1024.0 / clients);

  /* The clients leave (with unread data: their sockets reset). */
  for (int i = 0; i < clients; i++) close(fds[i]);
  long last = 0;
  for (int s = 1; s <= 10; s++) {
    sleep_ms(1000);
    last = rss_kib();
    printf("RSS %2d s after:       %7.1f MiB\n", s, last / 1024.0);
  }
  int ok = last - before <= 32 * 1024;
  printf("%s: %.1f MiB above the level before the burst after 10 s (target: at most 32 MiB); %d of %d "
         "connections closed\n",
         ok ? "met" : "NOT met", (last - before) / 1024.0, atomic_load(&closed), clients);
  ws_server_free(server);
  free(fds);
  free(payload);
  return 0;
}
