/*
 * test_flow: flow control through the C API. Against a raw client that does
 * not read: sends over the high-water mark return WS_STATUS_BACKPRESSURE (and
 * still queue), ws_conn_buffered_amount counts what waits, the server stops
 * reading that client after one more message (the rest stay in the kernel)
 * until the amount is back under the mark, and on_drain comes once when it
 * falls to the low mark.
 * In both dispatch modes (in poll mode a thread of the test runs ws_dispatch).
 * Also the watermark setters' errors, and ws_conn_pause / ws_conn_resume:
 * a paused connection stops reading (the client's writes block), a resumed
 * one reads everything, in both modes.
 */
#include "check.h"

#define LOW (64 * 1024)
#define HIGH (256 * 1024)
#define MESSAGE (32 * 1024)

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ws_conn *conn; /* retained in on_open */
  int opened, messages, drains, closes;
} flow;

static void on_open(void *ud, ws_conn *conn) {
  flow *f = ud;
  pthread_mutex_lock(&f->mu);
  f->conn = ws_conn_retain(conn);
  f->opened++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void on_message(void *ud, ws_conn *conn, ws_message_type kind, const uint8_t *data, size_t len) {
  (void)conn, (void)kind, (void)data, (void)len;
  flow *f = ud;
  pthread_mutex_lock(&f->mu);
  f->messages++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void on_drain(void *ud, ws_conn *conn) {
  flow *f = ud;
  pthread_mutex_lock(&f->mu);
  if (conn == f->conn) f->drains++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void on_close(void *ud, ws_conn *conn, ws_close_code code, const char *reason) {
  (void)conn, (void)code, (void)reason;
  flow *f = ud;
  pthread_mutex_lock(&f->mu);
  f->closes++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

/* Waits until *field >= target; 1 if reached within ms. */
static int flow_wait(flow *f, const int *field, int target, int ms) {
  struct timespec dl;
  deadline_in(&dl, ms);
  pthread_mutex_lock(&f->mu);
  while (*field < target && pthread_cond_timedwait(&f->cv, &f->mu, &dl) != ETIMEDOUT) {
  }
  int ok = *field >= target;
  pthread_mutex_unlock(&f->mu);
  return ok;
}

static int flow_get(flow *f, const int *field) {
  pthread_mutex_lock(&f->mu);
  int v = *field;
  pthread_mutex_unlock(&f->mu);
  return v;
}

static void test_setters(void) {
  note("watermark setters");
  ws_server_config *sc = ws_server_config_new();
  ws_client_config *cc = ws_client_config_new();
  CHECK_STATUS(ws_server_config_set_send_watermarks(sc, LOW, HIGH), WS_STATUS_OK, "server: low < high");
  CHECK_STATUS(ws_server_config_set_send_watermarks(sc, HIGH, HIGH), WS_STATUS_OK, "server: low == high");
  CHECK_STATUS(ws_server_config_set_send_watermarks(sc, 0, 1), WS_STATUS_OK, "server: 0, 1");
  EXPECT_STATUS(ws_server_config_set_send_watermarks(sc, HIGH + 1, HIGH), WS_ERR_INVALID_ARGUMENT,
                "server: low > high");
  EXPECT_STATUS(ws_server_config_set_send_watermarks(sc, 0, 0), WS_ERR_INVALID_ARGUMENT, "server: high 0");
  EXPECT_STATUS(ws_server_config_set_send_watermarks(NULL, LOW, HIGH), WS_ERR_NULL, "server: NULL");
  CHECK_STATUS(ws_client_config_set_send_watermarks(cc, LOW, HIGH), WS_STATUS_OK, "client: low < high");
  EXPECT_STATUS(ws_client_config_set_send_watermarks(cc, 2, 1), WS_ERR_INVALID_ARGUMENT, "client: low > high");
  EXPECT_STATUS(ws_client_config_set_send_watermarks(NULL, LOW, HIGH), WS_ERR_NULL, "client: NULL");
  ws_server_config_free(sc);
  ws_client_config_free(cc);
}

/* Poll mode: runs ws_dispatch until told to stop. */
static volatile int dispatching;

static void *dispatcher(void *arg) {
  (void)arg;
  while (dispatching) {
    ws_dispatch(0);
    sleep_ms(1);
  }
  return NULL;
}

static void test_backpressure_pause_and_drain(ws_dispatch_mode mode) {
  note("a client that does not read: backpressure, reading paused, on_drain once (%s)",
       mode == WS_DISPATCH_POLL ? "poll dispatch" : "thread dispatch");
  pthread_t poller;
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 1;
    pthread_create(&poller, NULL, dispatcher, NULL);
  }
  flow f;
  memset(&f, 0, sizeof f);
  pthread_mutex_init(&f.mu, NULL);
  pthread_cond_init(&f.cv, NULL);
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_send_watermarks(cfg, LOW, HIGH), WS_STATUS_OK, "watermarks");
  CHECK_STATUS(ws_server_config_set_dispatch(cfg, mode), WS_STATUS_OK, "dispatch mode");
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = on_open;
  cb.on_message = on_message;
  cb.on_drain = on_drain;
  cb.on_close = on_close;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &cb, &f);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "listen: %s", last_msg());
  if (!srv) goto stop;
  int fd = raw_connect(ws_server_port(srv), 0);
  char resp[1024];
  CHECK(fd >= 0 && raw_ws_handshake(fd, "/", resp, sizeof resp) == 0, "raw client upgraded");
  set_timeouts(fd, WAIT_MS);
  CHECK(flow_wait(&f, &f.opened, 1, WAIT_MS), "server side open");
  pthread_mutex_lock(&f.mu);
  ws_conn *conn = f.conn;
  pthread_mutex_unlock(&f.mu);
  if (!conn) goto done;

  /* Send until over the mark, and still over it once the kernel's buffers
   * are full (until then what is queued drains into them). */
  static uint8_t payload[MESSAGE];
  memset(payload, 0x5a, sizeof payload);
  int sent = 0, refused = 0;
  for (;;) {
    int s = ws_conn_send_binary(conn, payload, sizeof payload);
    if (s < 0) {
      refused = s;
      break;
    }
    sent++;
    if (s == WS_STATUS_BACKPRESSURE) {
      sleep_ms(300);
      if (ws_conn_buffered_amount(conn) > HIGH) break;
    }
    if ((size_t)sent * MESSAGE > (size_t)64 << 20) break;
  }
  CHECK(refused == 0, "no send refused on the way (got %s)", ws_status_name(refused));
  CHECK(ws_conn_buffered_amount(conn) > HIGH, "buffered amount over the high mark (%zu)",
        ws_conn_buffered_amount(conn));
  CHECK_STATUS(ws_conn_send_text(conn, "one more", 8), WS_STATUS_BACKPRESSURE, "a send over the mark still queues");
  sent++;
  int drained_before = flow_get(&f, &f.drains);

  /* Paused after one more message: what the client sends now is not read. */
  unsigned char frame[64];
  for (int i = 0; i < 20; i++) {
    size_t n = raw_client_frame(frame, 0x81, "held back", 9);
    CHECK(raw_send_all(fd, frame, n) == 0, "client frame %d written", i);
  }
  sleep_ms(300);
  CHECK(flow_get(&f, &f.messages) == 1, "one message read while over the mark, no more (got %d)",
        flow_get(&f, &f.messages));
  CHECK(flow_get(&f, &f.drains) == drained_before, "no on_drain before the client read");

  /* The client reads everything: reading resumes, on_drain comes once. */
  static unsigned char in[MESSAGE];
  int read_ok = 1;
  for (int i = 0; i < sent && read_ok; i++) {
    size_t len = 0;
    read_ok = raw_read_frame(fd, in, sizeof in, &len) >= 0;
  }
  CHECK(read_ok, "the client read all %d messages", sent);
  CHECK(flow_wait(&f, &f.messages, 20, WAIT_MS), "the 20 messages held back were read (%d)",
        flow_get(&f, &f.messages));
  CHECK(flow_wait(&f, &f.drains, drained_before + 1, WAIT_MS), "on_drain came");
  CHECK(ws_conn_buffered_amount(conn) <= LOW, "buffered amount at the low mark or under (%zu)",
        ws_conn_buffered_amount(conn));
  CHECK_STATUS(ws_conn_send_text(conn, "small", 5), WS_STATUS_OK, "under the mark: WS_STATUS_OK");
  size_t len = 0;
  CHECK(raw_read_frame(fd, in, sizeof in, &len) == 0x81 && len == 5 && memcmp(in, "small", 5) == 0,
        "the small message arrives");
  sleep_ms(100);
  CHECK(flow_get(&f, &f.drains) == drained_before + 1, "on_drain came once (%d)", flow_get(&f, &f.drains) - drained_before);
  ws_conn_release(conn);
done:
  if (fd >= 0) close(fd);
  CHECK(flow_wait(&f, &f.closes, 1, WAIT_MS), "on_close");
  ws_server_free(srv);
stop:
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 0;
    pthread_join(poller, NULL);
  }
  pthread_mutex_destroy(&f.mu);
  pthread_cond_destroy(&f.cv);
}

/* Writes whole frames of `len` bytes to `fd` until the kernel takes no more
 * within 300 ms (or 64 MiB went); returns how many frames went. */
static int write_until_blocked(int fd, const unsigned char *frame, size_t len) {
  int frames = 0;
  size_t done = 0; /* bytes of the current frame written */
  for (size_t total = 0; total < (size_t)64 << 20;) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 300) != 1) break;
    ssize_t n = send(fd, frame + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return -1;
    done += (size_t)n;
    total += (size_t)n;
    if (done == len) {
      frames++;
      done = 0;
    }
  }
  if (done > 0) { /* finish the frame under way (the server resumes later) */
    set_timeouts(fd, WAIT_MS);
    if (raw_send_all(fd, frame + done, len - done) != 0) return -1;
    frames++;
  }
  return frames;
}

static void *resume_later(void *conn) {
  sleep_ms(200);
  ws_conn_resume(conn);
  return NULL;
}

static void test_pause_and_resume(ws_dispatch_mode mode) {
  note("ws_conn_pause: the server stops reading, TCP pushes back; ws_conn_resume: all arrive (%s)",
       mode == WS_DISPATCH_POLL ? "poll dispatch" : "thread dispatch");
  pthread_t poller;
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 1;
    pthread_create(&poller, NULL, dispatcher, NULL);
  }
  flow f;
  memset(&f, 0, sizeof f);
  pthread_mutex_init(&f.mu, NULL);
  pthread_cond_init(&f.cv, NULL);
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_dispatch(cfg, mode), WS_STATUS_OK, "dispatch mode");
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = on_open;
  cb.on_message = on_message;
  cb.on_close = on_close;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &cb, &f);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "listen: %s", last_msg());
  if (!srv) goto stop;
  int fd = raw_connect(ws_server_port(srv), 0);
  char resp[1024];
  CHECK(fd >= 0 && raw_ws_handshake(fd, "/", resp, sizeof resp) == 0, "raw client upgraded");
  CHECK(flow_wait(&f, &f.opened, 1, WAIT_MS), "server side open");
  pthread_mutex_lock(&f.mu);
  ws_conn *conn = f.conn;
  pthread_mutex_unlock(&f.mu);
  if (!conn) goto done;

  CHECK_STATUS(ws_conn_pause(NULL), WS_ERR_NULL, "ws_conn_pause(NULL)");
  CHECK_STATUS(ws_conn_resume(NULL), WS_ERR_NULL, "ws_conn_resume(NULL)");
  CHECK_STATUS(ws_conn_resume(conn), WS_STATUS_OK, "resume when not paused: no effect");
  CHECK_STATUS(ws_conn_pause(conn), WS_STATUS_OK, "ws_conn_pause");
  static unsigned char payload[MESSAGE], frame[MESSAGE + 16];
  memset(payload, 0x5a, sizeof payload);
  size_t len = raw_client_frame(frame, 0x82, payload, sizeof payload);
  int sent = write_until_blocked(fd, frame, len);
  CHECK(sent > 0 && (size_t)sent * MESSAGE < (size_t)64 << 20,
        "the client's writes block: %d messages (%d KiB) went, not 64 MiB", sent, sent * (MESSAGE / 1024));
  sleep_ms(100);
  CHECK(flow_get(&f, &f.messages) <= 1, "paused: at most one message read (got %d)", flow_get(&f, &f.messages));
  CHECK_STATUS(ws_conn_send_text(conn, "still sends", 11), WS_STATUS_OK, "a paused connection still sends");
  unsigned char in[64];
  size_t got = 0;
  set_timeouts(fd, WAIT_MS);
  CHECK(raw_read_frame(fd, in, sizeof in, &got) == 0x81 && got == 11, "... and the client gets it");

  /* Resumed from another thread while the client writes the rest. */
  pthread_t resumer;
  pthread_create(&resumer, NULL, resume_later, conn);
  int more = 0;
  for (; more < 100; more++)
    if (raw_send_all(fd, frame, len) != 0) break;
  pthread_join(resumer, NULL);
  CHECK(more == 100, "after ws_conn_resume the client writes 100 more");
  CHECK(flow_wait(&f, &f.messages, sent + more, WAIT_MS), "all %d messages arrive (got %d)", sent + more,
        flow_get(&f, &f.messages));
  ws_conn_release(conn);
done:
  if (fd >= 0) close(fd);
  CHECK(flow_wait(&f, &f.closes, 1, WAIT_MS), "on_close");
  ws_server_free(srv);
stop:
  if (mode == WS_DISPATCH_POLL) {
    dispatching = 0;
    pthread_join(poller, NULL);
  }
  pthread_mutex_destroy(&f.mu);
  pthread_cond_destroy(&f.cv);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_setters();
  test_backpressure_pause_and_drain(WS_DISPATCH_THREAD);
  test_backpressure_pause_and_drain(WS_DISPATCH_POLL);
  test_pause_and_resume(WS_DISPATCH_THREAD);
  test_pause_and_resume(WS_DISPATCH_POLL);
  return check_summary();
}
