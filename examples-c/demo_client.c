/*
 * demo_client: a guided tour of the client API against build/echo_server.
 *
 *   demo_client URL [--verbose]   (e.g. ws://127.0.0.1:9001/)
 *
 * --verbose prints the library's log lines on stderr (see verbose.h).
 *
 * Steps: connect; send a text message and read its echo; send a binary
 * message and read its echo; ping with a payload and read the pong; send
 * "close-me", which makes the echo server close with 4000 "bye".
 * Exits 0 only if every step behaved as expected.
 *
 * How it works: the library calls our callbacks on its own I/O thread. Each
 * callback copies what it got into `inbox` and signals a condition variable;
 * main() sends something, then waits for the matching event with expect().
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "verbose.h"
#include "websocket.h"

#define TIMEOUT_S 5

enum event { NONE, TEXT, BINARY, PONG, CLOSE };

/* The last event a callback received (one at a time is enough for a demo). */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  enum event kind;
  uint8_t data[256]; /* payload (message, pong) or close reason */
  size_t len;
  int close_code;
} inbox = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NONE, {0}, 0, 0};

/* Called by the callbacks: store the event and wake main(). */
static void deliver(enum event kind, const void *data, size_t len, int close_code) {
  pthread_mutex_lock(&inbox.lock);
  inbox.kind = kind;
  inbox.len = len < sizeof inbox.data ? len : sizeof inbox.data;
  if (inbox.len) memcpy(inbox.data, data, inbox.len); /* data is only valid during the call */
  inbox.close_code = close_code;
  pthread_cond_signal(&inbox.changed);
  pthread_mutex_unlock(&inbox.lock);
}

static void on_message(void *user_data, ws_conn *conn, ws_message_type type,
                       const uint8_t *data, size_t len) {
  (void)user_data;
  (void)conn;
  deliver(type == WS_MESSAGE_TEXT ? TEXT : BINARY, data, len, 0);
}

static void on_pong(void *user_data, ws_conn *conn, const uint8_t *data, size_t len) {
  (void)user_data;
  (void)conn;
  deliver(PONG, data, len, 0);
}

static void on_close(void *user_data, ws_conn *conn, uint16_t code, const char *reason) {
  (void)user_data;
  (void)conn;
  deliver(CLOSE, reason, strlen(reason), code);
}

/* Stops the demo with a message (exit status 1). */
static void fail(const char *what) {
  fprintf(stderr, "demo_client: FAILED: %s\n", what);
  exit(1);
}

/* Fails unless a library call succeeded. */
static void check(ws_status status, const char *what) {
  if (status < 0) {
    fprintf(stderr, "demo_client: FAILED: %s: %s\n", what, ws_last_error_message());
    exit(1);
  }
}

/* Waits until an event of `kind` arrives with exactly `len` bytes `data`
 * (and, for CLOSE, the close code `code`). */
static void expect(enum event kind, const void *data, size_t len, int code) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += TIMEOUT_S;
  pthread_mutex_lock(&inbox.lock);
  while (inbox.kind == NONE) {
    if (pthread_cond_timedwait(&inbox.changed, &inbox.lock, &deadline) != 0) {
      fail("no answer from the server in time");
    }
  }
  int ok = inbox.kind == kind && inbox.len == len && memcmp(inbox.data, data, len) == 0 &&
           inbox.close_code == code;
  inbox.kind = NONE; /* consumed */
  pthread_mutex_unlock(&inbox.lock);
  if (!ok) fail("the answer differs from what was expected");
}

static void print_hex(const char *label, const uint8_t *data, size_t len) {
  printf("%s", label);
  for (size_t i = 0; i < len; i++) printf(" %02x", data[i]);
  printf("\n");
}

int main(int argc, char **argv) {
  int verbose = argc == 3 && strcmp(argv[2], "--verbose") == 0;
  if (argc != 2 && !verbose) {
    fprintf(stderr, "usage: demo_client ws://HOST:PORT/ [--verbose]\n");
    return 2;
  }
  if (verbose) verbose_logging();

  /* 1. Connect. ws_client_connect returns at once; wait for the handshake. */
  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_message = on_message;
  callbacks.on_pong = on_pong;
  callbacks.on_close = on_close;
  ws_client *client = ws_client_connect(argv[1], NULL, &callbacks, NULL);
  if (!client) fail(ws_last_error_message()); /* malformed URL */
  ws_conn *conn = ws_client_conn(client);
  check(ws_conn_wait_open(conn, TIMEOUT_S * 1000), "connect");
  printf("connected to %s\n", ws_conn_peer_address(conn));

  /* 2. Text round trip: the echo server sends the same message back. */
  const char *text = "Hello, WebSocket!";
  printf("send text:    \"%s\"\n", text);
  check(ws_conn_send_text(conn, text, strlen(text)), "send text");
  expect(TEXT, text, strlen(text), 0);
  printf("echoed text:  \"%s\"\n", text);

  /* 3. Binary round trip: any bytes, including 0x00 and 0xff. */
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  print_hex("send binary:  ", bytes, sizeof bytes);
  check(ws_conn_send_binary(conn, bytes, sizeof bytes), "send binary");
  expect(BINARY, bytes, sizeof bytes, 0);
  print_hex("echoed binary:", bytes, sizeof bytes);

  /* 4. Ping: the server's library answers with a pong carrying the same payload. */
  const char *payload = "are you there?";
  printf("send ping:    \"%s\"\n", payload);
  check(ws_conn_ping(conn, (const uint8_t *)payload, strlen(payload)), "ping");
  expect(PONG, payload, strlen(payload), 0);
  printf("got pong:     \"%s\"\n", payload);

  /* 5. Ask the server to close: it closes with code 4000 and reason "bye". */
  printf("send text:    \"close-me\"\n");
  check(ws_conn_send_text(conn, "close-me", 8), "send close-me");
  expect(CLOSE, "bye", 3, 4000);
  printf("closed by server: code %d, reason \"bye\"\n", ws_conn_close_code(conn));

  ws_client_free(client);
  printf("demo OK\n");
  return 0;
}
