/*
 * test_parts: messages in parts through the C API.
 *
 * Sending (ws_conn_send_ex): the flags' errors; a message in parts reaches a
 * raw client as frames (first, continuation, final) with a whole message sent
 * meanwhile after its last part; text checked across parts; compression asked
 * for per message is refused nowhere (no extension: it goes uncompressed).
 * Receiving (ws_*_config_set_receive_parts): on_message_part gets the pieces
 * in order with WS_PART_FIRST / WS_PART_LAST and the running total, in thread
 * and in poll dispatch; without on_message_part the server is refused.
 */
#include "check.h"

/* ------------------------------------------------------------ raw client */

/* A server that records (and retains) its connections, and a raw client
 * that completed the handshake with it. */
typedef struct {
  rec r;
  ws_server *srv;
  int fd;
  ws_conn *conn;
} raw_pair;

static void raw_pair_close(raw_pair *p) {
  if (p->fd >= 0) close(p->fd);
  ws_server_free(p->srv);
  rec_destroy(&p->r);
}

/* 0 when open; otherwise everything is closed again. */
static int raw_pair_open(raw_pair *p) {
  rec_init(&p->r, "server");
  p->r.retain_open = 1;
  p->fd = -1;
  ws_callbacks cb = rec_callbacks();
  p->srv = ws_server_listen("127.0.0.1", 0, NULL, &cb, &p->r);
  if (!CHECK(p->srv != NULL, "listen: %s", last_msg())) {
    rec_destroy(&p->r);
    return -1;
  }
  p->fd = raw_connect(ws_server_port(p->srv), 0);
  char resp[2048];
  if (!CHECK(p->fd >= 0 && raw_ws_handshake(p->fd, "/", resp, sizeof resp) == 0, "raw client upgraded") ||
      !CHECK(rec_wait(&p->r, &p->r.n_open, 1, WAIT_MS), "server side open")) {
    raw_pair_close(p);
    return -1;
  }
  p->conn = p->r.conns[0];
  return 0;
}

static void test_send_flags_errors(void) {
  note("ws_conn_send_ex: its arguments' errors");
  raw_pair p;
  if (raw_pair_open(&p) != 0) return;
  const uint8_t *x = (const uint8_t *)"x";
  EXPECT_STATUS(ws_conn_send_ex(NULL, WS_MESSAGE_TEXT, x, 1, 0), WS_ERR_NULL, "NULL connection");
  EXPECT_STATUS(ws_conn_send_ex(p.conn, 7, x, 1, 0), WS_ERR_INVALID_ARGUMENT, "unknown kind");
  EXPECT_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, x, 1, 0x100), WS_ERR_INVALID_ARGUMENT, "unknown flag");
  EXPECT_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, x, 1, WS_SEND_COMPRESS | WS_SEND_NO_COMPRESS),
                WS_ERR_INVALID_ARGUMENT, "both compression flags");
  EXPECT_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, x, 1, WS_SEND_CONTINUATION), WS_ERR_BAD_STATE,
                "a continuation with no message in parts open");
  EXPECT_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)"\xff", 1, 0), WS_ERR_INVALID_UTF8,
                "invalid text");
  raw_pair_close(&p);
}

static void test_parts_reach_a_raw_client(void) {
  note("a message in parts reaches a raw client as frames, with nothing between them");
  raw_pair p;
  if (raw_pair_open(&p) != 0) return;
  const char *e = "\xc3\xa9"; /* é */
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)"caf\xc3", 4, WS_SEND_MORE),
               WS_STATUS_OK, "first part, ending inside a character");
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)"new", 3, WS_SEND_MORE), WS_ERR_BAD_STATE,
               "a second message in parts while one is open");
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_BINARY, (const uint8_t *)"b", 1, WS_SEND_CONTINUATION),
               WS_ERR_INVALID_ARGUMENT, "a part of another kind");
  CHECK_STATUS(ws_conn_send(p.conn, WS_MESSAGE_BINARY, (const uint8_t *)"meanwhile", 9), WS_STATUS_OK,
               "a whole message meanwhile (waits for the last part)");
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)"\xc3", 1, WS_SEND_CONTINUATION),
               WS_ERR_INVALID_UTF8, "a last part that ends inside a character");
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)e + 1, 1,
                               WS_SEND_CONTINUATION | WS_SEND_MORE),
               WS_STATUS_OK, "middle part");
  CHECK_STATUS(ws_conn_send_ex(p.conn, WS_MESSAGE_TEXT, (const uint8_t *)"!", 1,
                               WS_SEND_CONTINUATION | WS_SEND_COMPRESS),
               WS_STATUS_OK, "last part (compression asked for, none negotiated)");
  unsigned char payload[64];
  size_t len = 0;
  int b0 = raw_read_frame(p.fd, payload, sizeof payload, &len);
  CHECK(b0 == 0x01 && len == 4 && memcmp(payload, "caf\xc3", 4) == 0, "frame 1: text, not final (0x%02x, %zu)", b0, len);
  b0 = raw_read_frame(p.fd, payload, sizeof payload, &len);
  CHECK(b0 == 0x00 && len == 1 && payload[0] == 0xa9, "frame 2: continuation, not final (0x%02x, %zu)", b0, len);
  b0 = raw_read_frame(p.fd, payload, sizeof payload, &len);
  CHECK(b0 == 0x80 && len == 1 && payload[0] == '!', "frame 3: continuation, final (0x%02x, %zu)", b0, len);
  b0 = raw_read_frame(p.fd, payload, sizeof payload, &len);
  CHECK(b0 == 0x82 && len == 9 && memcmp(payload, "meanwhile", 9) == 0,
        "then the whole message sent meanwhile (0x%02x, %zu)", b0, len);
  raw_pair_close(&p);
}

/* ------------------------------------------------------- receiving parts */

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned char *data; /* the current message so far */
  size_t len, cap;
  int messages;        /* messages whose last piece came */
  int pieces;
  int bad_flags;       /* a piece whose flags or total were wrong */
  int whole_calls;     /* on_message calls (must be none) */
  int kinds[4];           /* the first complete messages */
  unsigned char *done[4];
  size_t done_len[4];
  int pieces_at[4];       /* pieces seen when each one completed */
} parts_rec;

static void on_part(void *ud, ws_conn *conn, ws_message_type kind, const uint8_t *data, size_t len,
                    ws_part_flags flags, uint64_t total) {
  (void)conn;
  parts_rec *pr = ud;
  pthread_mutex_lock(&pr->mu);
  pr->pieces++;
  if (((flags & WS_PART_FIRST) != 0) != (pr->len == 0 && pr->data == NULL)) pr->bad_flags++;
  if (pr->len + len > pr->cap) {
    pr->cap = (pr->len + len) * 2;
    pr->data = realloc(pr->data, pr->cap);
  }
  if (len) memcpy(pr->data + pr->len, data, len);
  pr->len += len;
  if (total != pr->len) pr->bad_flags++;
  if (flags & WS_PART_LAST) {
    if (pr->messages < 4) {
      pr->done[pr->messages] = pr->data;
      pr->done_len[pr->messages] = pr->len;
      pr->kinds[pr->messages] = kind;
      pr->pieces_at[pr->messages] = pr->pieces;
    } else {
      free(pr->data);
    }
    pr->data = NULL;
    pr->len = pr->cap = 0;
    pr->messages++;
  }
  pthread_cond_broadcast(&pr->cv);
  pthread_mutex_unlock(&pr->mu);
}

static void on_whole(void *ud, ws_conn *conn, ws_message_type kind, const uint8_t *data, size_t len) {
  (void)conn, (void)kind, (void)data, (void)len;
  parts_rec *pr = ud;
  pthread_mutex_lock(&pr->mu);
  pr->whole_calls++;
  pthread_mutex_unlock(&pr->mu);
}

static int parts_wait(parts_rec *pr, int messages) {
  struct timespec dl;
  deadline_in(&dl, WAIT_MS);
  pthread_mutex_lock(&pr->mu);
  while (pr->messages < messages && pthread_cond_timedwait(&pr->cv, &pr->mu, &dl) != ETIMEDOUT) {
  }
  int ok = pr->messages >= messages;
  pthread_mutex_unlock(&pr->mu);
  return ok;
}

static volatile int dispatching;

static void *dispatcher(void *arg) {
  (void)arg;
  while (dispatching) {
    struct pollfd pfd = {ws_event_fd(), POLLIN, 0};
    poll(&pfd, 1, 20);
    ws_dispatch(0);
  }
  return NULL;
}

static void test_receive_parts(ws_dispatch_mode mode) {
  note("receiving in parts, %s", mode == WS_DISPATCH_POLL ? "poll dispatch" : "thread dispatch");
  pthread_t poller;
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 1;
    pthread_create(&poller, NULL, dispatcher, NULL);
  }
  parts_rec pr;
  memset(&pr, 0, sizeof pr);
  pthread_mutex_init(&pr.mu, NULL);
  pthread_cond_init(&pr.cv, NULL);
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_receive_parts(cfg, 1), WS_STATUS_OK, "receive parts");
  CHECK_STATUS(ws_server_config_set_dispatch(cfg, mode), WS_STATUS_OK, "dispatch mode");
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_message = on_whole;
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, cfg, &cb, &pr), WS_ERR_INVALID_ARGUMENT,
                  "receive parts without on_message_part");
  cb.on_message_part = on_part;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &cb, &pr);
  ws_server_config_free(cfg);
  if (!CHECK(srv != NULL, "listen: %s", last_msg())) return;

  rec cr;
  rec_init(&cr, "client");
  ws_callbacks ccb = rec_callbacks();
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", ws_server_port(srv));
  ws_client *cl = ws_client_connect(url, NULL, &ccb, &cr);
  CHECK(cl != NULL && rec_wait(&cr, &cr.n_open, 1, WAIT_MS), "client open");
  ws_conn *c = ws_client_conn(cl);

  /* A text message sent in three parts. */
  ws_conn_send_ex(c, WS_MESSAGE_TEXT, (const uint8_t *)"one, ", 5, WS_SEND_MORE);
  ws_conn_send_ex(c, WS_MESSAGE_TEXT, (const uint8_t *)"two, ", 5, WS_SEND_CONTINUATION | WS_SEND_MORE);
  ws_conn_send_ex(c, WS_MESSAGE_TEXT, (const uint8_t *)"three", 5, WS_SEND_CONTINUATION);
  CHECK(parts_wait(&pr, 1), "the message's last piece came");
  pthread_mutex_lock(&pr.mu);
  CHECK(pr.kinds[0] == WS_MESSAGE_TEXT && pr.done_len[0] == 15 && memcmp(pr.done[0], "one, two, three", 15) == 0,
        "its pieces make the message");
  pthread_mutex_unlock(&pr.mu);

  /* A large binary message sent whole arrives in several pieces. */
  size_t big = 3 * 1024 * 1024;
  uint8_t *data = malloc(big);
  for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 7 + i / 4099);
  int st = ws_conn_send(c, WS_MESSAGE_BINARY, data, big);
  CHECK(st == WS_STATUS_OK || st == WS_STATUS_BACKPRESSURE, "send 3 MiB (%s)", ws_status_name(st));
  /* An empty message: one piece, first and last. */
  st = ws_conn_send(c, WS_MESSAGE_BINARY, data, 0);
  CHECK(st == WS_STATUS_OK || st == WS_STATUS_BACKPRESSURE, "send an empty message (%s)", ws_status_name(st));
  CHECK(parts_wait(&pr, 3), "the large and the empty message came");
  pthread_mutex_lock(&pr.mu);
  CHECK(pr.kinds[1] == WS_MESSAGE_BINARY && pr.done_len[1] == big && memcmp(pr.done[1], data, big) == 0,
        "the large message's pieces make it");
  CHECK(pr.pieces_at[1] - pr.pieces_at[0] > 4, "in several pieces (%d)", pr.pieces_at[1] - pr.pieces_at[0]);
  CHECK(pr.done_len[2] == 0 && pr.pieces_at[2] == pr.pieces_at[1] + 1, "the empty one as one empty piece");
  CHECK(pr.bad_flags == 0 && pr.whole_calls == 0, "flags and totals right, on_message not called");
  pthread_mutex_unlock(&pr.mu);
  free(data);

  CHECK_STATUS(ws_conn_close(c, WS_OK, "done"), WS_STATUS_OK, "close");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS), "client closed");
  ws_client_free(cl);
  ws_server_free(srv);
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 0;
    pthread_join(poller, NULL);
  }
  rec_destroy(&cr);
  free(pr.data);
  for (int i = 0; i < 4; i++) free(pr.done[i]);
  pthread_mutex_destroy(&pr.mu);
  pthread_cond_destroy(&pr.cv);
}

int main(void) {
  test_send_flags_errors();
  test_parts_reach_a_raw_client();
  test_receive_parts(WS_DISPATCH_THREAD);
  test_receive_parts(WS_DISPATCH_POLL);
  return check_summary();
}
