/*
 * test_reconnect: clients that reconnect (ws_client_config_set_reconnect),
 * over loopback. An echo server is freed and started again on the same port:
 * the client's attempts in between fail, each announced by on_reconnect with
 * a delay within its bounds, sends fail with WS_ERR_NOT_OPEN, and once the
 * server is back the client opens a new connection (on_reconnected) and sends
 * on it; the client handle stays the same. Then max_tries, cancelling from
 * on_reconnect, ws_client_close during a delay, a server's 1000 that ends the
 * client, and poll dispatch.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

/* What a reconnecting client's callbacks saw. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ws_client *client;
  int opens, closes, errors, reconnects, reconnected, echoes;
  int last_close_code, last_close_again; /* ws_client_is_reconnecting in on_close */
  uint32_t last_attempt, reconnected_attempt;
  int bad_delays;        /* on_reconnect delays out of their bounds */
  uint32_t cancel_at;    /* on_reconnect cancels this attempt (0: none) */
  uint64_t initial, max; /* the delays set, to check them */
  ws_conn *reconnect_conn, *reconnected_conn;
} seen;

static void seen_init(seen *s, uint64_t initial, uint64_t max) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->initial = initial;
  s->max = max;
  s->last_close_code = -1;
}

static void seen_destroy(seen *s) {
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

static int seen_get(seen *s, const int *field) {
  pthread_mutex_lock(&s->mu);
  int v = *field;
  pthread_mutex_unlock(&s->mu);
  return v;
}

/* Waits until *field >= target (dispatching when poll); 1 if reached. */
static int seen_wait(seen *s, const int *field, int target, int poll) {
  long long end = now_ms() + 2 * WAIT_MS;
  while (seen_get(s, field) < target && now_ms() < end) {
    if (poll)
      ws_dispatch(0);
    sleep_ms(5);
  }
  return seen_get(s, field) >= target;
}

static void on_open(void *ud, ws_conn *conn) {
  seen *s = ud;
  (void)conn;
  pthread_mutex_lock(&s->mu);
  s->opens++;
  pthread_mutex_unlock(&s->mu);
}

static void on_message(void *ud, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  seen *s = ud;
  (void)conn, (void)type, (void)data, (void)len;
  pthread_mutex_lock(&s->mu);
  s->echoes++;
  pthread_mutex_unlock(&s->mu);
}

static void on_error(void *ud, ws_conn *conn, ws_status status, const char *message) {
  seen *s = ud;
  (void)conn, (void)status, (void)message;
  pthread_mutex_lock(&s->mu);
  s->errors++;
  pthread_mutex_unlock(&s->mu);
}

static void on_close(void *ud, ws_conn *conn, ws_close_code code, const char *reason) {
  seen *s = ud;
  (void)conn, (void)reason;
  pthread_mutex_lock(&s->mu); /* held by reconnecting_client until s->client is set */
  int again = ws_client_is_reconnecting(s->client);
  s->last_close_code = code;
  s->last_close_again = again;
  s->closes++;
  pthread_mutex_unlock(&s->mu);
}

static int on_reconnect(void *ud, ws_conn *conn, uint32_t attempt, uint64_t delay_ms) {
  seen *s = ud;
  pthread_mutex_lock(&s->mu);
  uint64_t ceiling = attempt > 40 ? s->max : s->initial << (attempt - 1);
  if (ceiling > s->max) ceiling = s->max;
  if (delay_ms < ceiling / 2 || delay_ms > ceiling) s->bad_delays++;
  s->last_attempt = attempt;
  s->reconnect_conn = conn;
  s->reconnects++;
  int cancel = s->cancel_at == attempt;
  pthread_mutex_unlock(&s->mu);
  return cancel;
}

static void on_reconnected(void *ud, ws_conn *conn, uint32_t attempt) {
  seen *s = ud;
  pthread_mutex_lock(&s->mu);
  s->reconnected_attempt = attempt;
  s->reconnected_conn = conn;
  s->reconnected++;
  pthread_mutex_unlock(&s->mu);
}

static ws_client *reconnecting_client(int port, seen *s, uint32_t max_tries, int mode) {
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = on_open;
  cb.on_message = on_message;
  cb.on_error = on_error;
  cb.on_close = on_close;
  cb.on_reconnect = on_reconnect;
  cb.on_reconnected = on_reconnected;
  ws_client_config *cfg = ws_client_config_new();
  CHECK_STATUS(ws_client_config_set_reconnect(cfg, s->initial, s->max, max_tries), WS_STATUS_OK, "set_reconnect");
  ws_client_config_set_dispatch(cfg, mode);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  pthread_mutex_lock(&s->mu); /* on_close reads s->client */
  s->client = ws_client_connect(url, cfg, &cb, s);
  pthread_mutex_unlock(&s->mu);
  ws_client_config_free(cfg);
  CHECK(s->client != NULL, "ws_client_connect (%s)", s->client ? "ok" : last_msg());
  return s->client;
}

/* An echo server on port (0: any), retried while the port is still taken. */
static ws_server *echo_server(int port, rec *r) {
  ws_callbacks cb = rec_callbacks();
  r->echo = 1;
  long long end = now_ms() + WAIT_MS;
  ws_server *server;
  while (!(server = ws_server_listen("127.0.0.1", (uint16_t)port, NULL, &cb, r)) && now_ms() < end)
    sleep_ms(10);
  return server;
}

/* A port nothing listens on. */
static int closed_port(void) {
  int port = 0;
  int fd = raw_listen(&port, 0);
  close(fd);
  return port;
}

static int send_text(ws_client *c, const char *text) {
  return ws_client_send(c, WS_MESSAGE_TEXT, (const uint8_t *)text, strlen(text));
}

static void server_restarts(void) {
  note("the server stops and starts again on the same port");
  rec r1;
  rec_init(&r1, "server");
  ws_server *server = echo_server(0, &r1);
  CHECK(server != NULL, "first server");
  int port = ws_server_port(server);
  seen s;
  seen_init(&s, 20, 80);
  ws_client *c = reconnecting_client(port, &s, 0, WS_DISPATCH_THREAD);
  CHECK(seen_wait(&s, &s.opens, 1, 0), "open");
  ws_conn *first = ws_client_conn(c);
  CHECK_STATUS(send_text(c, "one"), WS_STATUS_OK, "ws_client_send while open");
  CHECK(seen_wait(&s, &s.echoes, 1, 0), "echo");
  CHECK_STATUS(ws_client_is_reconnecting(c), 0, "not reconnecting while open");

  ws_server_free(server);
  CHECK(seen_wait(&s, &s.reconnects, 3, 0), "three attempts while the server is gone");
  pthread_mutex_lock(&s.mu);
  CHECK(s.reconnect_conn != NULL && s.errors >= 2, "the attempts failed (%d errors)", s.errors);
  pthread_mutex_unlock(&s.mu);
  CHECK_STATUS(ws_client_is_reconnecting(c), 1, "reconnecting");
  EXPECT_STATUS(send_text(c, "lost"), WS_ERR_NOT_OPEN, "ws_client_send while reconnecting");

  rec r2;
  rec_init(&r2, "server again");
  server = echo_server(port, &r2);
  CHECK(server != NULL, "the server again, on port %d", port);
  CHECK(seen_wait(&s, &s.reconnected, 1, 0), "on_reconnected");
  pthread_mutex_lock(&s.mu);
  CHECK(s.bad_delays == 0, "every delay within [ceiling/2, ceiling]");
  CHECK(s.reconnected_attempt == s.last_attempt && s.reconnected_attempt >= 3,
        "on_reconnected names the attempt that opened (%u of %u)", s.reconnected_attempt, s.last_attempt);
  CHECK(s.opens == 2 && s.reconnected_conn == ws_client_conn(c) && s.reconnected_conn != first,
        "the new connection is the client's");
  pthread_mutex_unlock(&s.mu);
  CHECK_STATUS(ws_conn_state(ws_client_conn(c)), WS_STATE_OPEN, "open again");
  CHECK_STATUS(send_text(c, "two"), WS_STATUS_OK, "ws_client_send on the same handle");
  CHECK(seen_wait(&s, &s.echoes, 2, 0), "echo on the new connection");

  ws_client_free(c);
  ws_server_free(server);
  seen_destroy(&s);
  rec_destroy(&r1);
  rec_destroy(&r2);
}

static void max_tries(void) {
  note("max_tries");
  seen s;
  seen_init(&s, 5, 20);
  ws_client *c = reconnecting_client(closed_port(), &s, 2, WS_DISPATCH_THREAD);
  CHECK(seen_wait(&s, &s.closes, 3, 0), "the first connection and two attempts closed");
  sleep_ms(100);
  pthread_mutex_lock(&s.mu);
  CHECK(s.reconnects == 2 && s.closes == 3 && s.errors == 3, "no third attempt (%d attempts, %d closes)",
        s.reconnects, s.closes);
  CHECK(s.last_close_code == WS_CLOSED_ABNORMALLY && !s.last_close_again, "the last on_close says it is the end");
  CHECK(s.bad_delays == 0, "delays within bounds");
  pthread_mutex_unlock(&s.mu);
  CHECK_STATUS(ws_client_is_reconnecting(c), 0, "ended");
  EXPECT_STATUS(ws_client_close(c, WS_OK, NULL), WS_ERR_NOT_OPEN, "ws_client_close once ended");
  ws_client_free(c);
  seen_destroy(&s);
}

static void cancel(void) {
  note("on_reconnect cancels");
  seen s;
  seen_init(&s, 5, 20);
  s.cancel_at = 2;
  ws_client *c = reconnecting_client(closed_port(), &s, 0, WS_DISPATCH_THREAD);
  CHECK(seen_wait(&s, &s.reconnects, 2, 0), "two on_reconnect");
  sleep_ms(100);
  pthread_mutex_lock(&s.mu);
  CHECK(s.reconnects == 2 && s.closes == 2, "no attempt after the cancelled one (%d, %d)", s.reconnects, s.closes);
  pthread_mutex_unlock(&s.mu);
  CHECK_STATUS(ws_client_is_reconnecting(c), 0, "ended");
  ws_client_free(c);
  seen_destroy(&s);
}

static void close_during_delay(void) {
  note("ws_client_close during a delay");
  seen s;
  seen_init(&s, 60000, 60000);
  ws_client *c = reconnecting_client(closed_port(), &s, 0, WS_DISPATCH_THREAD);
  CHECK(seen_wait(&s, &s.reconnects, 1, 0), "on_reconnect");
  /* Once on_reconnect has returned, the attempt's connection waits. */
  long long end = now_ms() + WAIT_MS;
  while (ws_conn_state(ws_client_conn(c)) != WS_STATE_CONNECTING && now_ms() < end)
    sleep_ms(5);
  CHECK_STATUS(ws_conn_state(ws_client_conn(c)), WS_STATE_CONNECTING, "the next connection waits");
  EXPECT_STATUS(ws_client_close(c, 1, NULL), WS_ERR_INVALID_CLOSE_CODE, "a bad code");
  CHECK_STATUS(ws_client_close(c, WS_OK, "bye"), WS_STATUS_OK, "ws_client_close");
  CHECK(seen_wait(&s, &s.closes, 2, 0), "the waiting connection closed");
  CHECK(seen_get(&s, &s.last_close_code) == WS_CLOSED_ABNORMALLY && !seen_get(&s, &s.last_close_again),
        "with 1006, for good");
  ws_client_free(c);
  seen_destroy(&s);
}

static void normal_close_ends(void) {
  note("the server's 1000 ends the client; poll dispatch");
  rec r;
  rec_init(&r, "server");
  r.retain_open = 1;
  ws_server *server = echo_server(0, &r);
  seen s;
  seen_init(&s, 5, 20);
  ws_client *c = reconnecting_client(ws_server_port(server), &s, 0, WS_DISPATCH_POLL);
  CHECK(seen_wait(&s, &s.opens, 1, 1), "open (poll)");
  CHECK(rec_wait(&r, &r.n_open, 1, WAIT_MS), "the server's end");
  CHECK_STATUS(ws_conn_close(r.conns[0], WS_OK, NULL), WS_STATUS_OK, "the server closes with 1000");
  CHECK(seen_wait(&s, &s.closes, 1, 1), "closed");
  sleep_ms(50);
  ws_dispatch(0);
  CHECK(seen_get(&s, &s.reconnects) == 0 && seen_get(&s, &s.last_close_code) == WS_OK, "no attempt after 1000");
  ws_client_free(c);
  ws_server_free(server);
  seen_destroy(&s);
  rec_destroy(&r);
}

int main(void) {
  server_restarts();
  max_tries();
  cancel();
  close_during_delay();
  normal_close_ends();
  EXPECT_STATUS(ws_client_config_set_reconnect(NULL, 1, 1, 0), WS_ERR_NULL, "NULL config");
  ws_client_config *cfg = ws_client_config_new();
  EXPECT_STATUS(ws_client_config_set_reconnect(cfg, 100, 99, 0), WS_ERR_INVALID_ARGUMENT, "max below initial");
  CHECK_STATUS(ws_client_config_set_reconnect(cfg, WS_RECONNECT_INITIAL_DELAY_MS, WS_RECONNECT_MAX_DELAY_MS, 0),
               WS_STATUS_OK, "the suggested delays");
  ws_client_config_free(cfg);
  return check_summary();
}
