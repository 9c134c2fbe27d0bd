/*
 * test_answers: no answer is lost when a connection ends right after its
 * messages, over loopback sockets with a hand-written client:
 *  - a close frame right after the messages, in poll dispatch: the host
 *    dispatches late, and its echoes still go before the answer to the close;
 *  - FIN right after the messages, in poll and thread dispatch: the echoes go
 *    out before the server ends TCP;
 *  - a host that never dispatches holds the close answer only for the close
 *    timeout;
 *  - a server stop right after clients sent a message, in thread and poll
 *    dispatch: every message is echoed before the 1001 close frame.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#define MESSAGES 20
#define CLIENTS 16

static ws_callbacks CB;

/* Dispatches polled events for ms milliseconds. */
static void dispatch_for(int ms) {
  long long end = now_ms() + ms;
  while (now_ms() < end) {
    struct pollfd p = {ws_event_fd(), POLLIN, 0};
    if (poll(&p, 1, 10) == 1) ws_dispatch(0);
  }
}

/* Dispatches polled events until *field >= target or ms pass; 1 if reached. */
static int dispatch_until(rec *r, const int *field, int target, int ms) {
  long long end = now_ms() + ms;
  while (rec_get(r, field) < target && now_ms() < end) {
    struct pollfd p = {ws_event_fd(), POLLIN, 0};
    if (poll(&p, 1, 10) == 1) ws_dispatch(0);
  }
  return rec_get(r, field) >= target;
}

static ws_server *echo_server(rec *r, int dispatch, int close_timeout_ms) {
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_dispatch(cfg, dispatch);
  if (close_timeout_ms) ws_server_config_set_close_timeout_ms(cfg, (uint32_t)close_timeout_ms);
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, &CB, r);
  ws_server_config_free(cfg);
  r->echo = 1;
  return s;
}

/* A raw client that completed the handshake with server s; -1 on failure. */
static int raw_client(ws_server *s) {
  int fd = raw_connect(ws_server_port(s), 0);
  if (fd < 0) return -1;
  set_timeouts(fd, WAIT_MS);
  char resp[1024];
  if (raw_ws_handshake(fd, "/", resp, sizeof resp) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends "m0".."m<n-1>" as text frames, then `tail` (tail_len bytes), in one write. */
static int send_messages_then(int fd, int n, const unsigned char *tail, size_t tail_len) {
  unsigned char buf[64 * MESSAGES + 64];
  size_t len = 0;
  for (int i = 0; i < n; i++) {
    char text[16];
    int tlen = snprintf(text, sizeof text, "m%d", i);
    len += raw_client_frame(buf + len, 0x81, text, (size_t)tlen);
  }
  if (tail_len > 0) memcpy(buf + len, tail, tail_len); /* tail may be NULL */
  return raw_send_all(fd, buf, len + tail_len);
}

/* Reads the echoes of "m0".."m<n-1>", in order; returns how many came right. */
static int read_echoes(int fd, int n) {
  for (int i = 0; i < n; i++) {
    unsigned char payload[64];
    size_t len;
    char want[16];
    int wlen = snprintf(want, sizeof want, "m%d", i);
    int op = raw_read_frame(fd, payload, sizeof payload, &len);
    if (op != 0x81 || len != (size_t)wlen || memcmp(payload, want, len) != 0) {
      note("echo %d: opcode %d, %zu bytes", i, op, op < 0 ? 0 : len);
      return i;
    }
  }
  return n;
}

/* Reads a close frame; returns its code (-1 if none came). */
static int read_close(int fd) {
  unsigned char payload[128];
  size_t len;
  int op = raw_read_frame(fd, payload, sizeof payload, &len);
  if (op != 0x88 || len < 2) return -1;
  return (payload[0] << 8) | payload[1];
}

static void close_frame_after_messages_poll(void) {
  rec r;
  rec_init(&r, "server");
  ws_server *s = echo_server(&r, WS_DISPATCH_POLL, 0);
  int fd = s ? raw_client(s) : -1;
  CHECK(fd >= 0, "a raw client connects to a polled echo server");
  if (fd >= 0) {
    CHECK(dispatch_until(&r, &r.n_open, 1, WAIT_MS), "the server's on_open is dispatched");
    unsigned char close_frame[16];
    size_t n = raw_client_frame(close_frame, 0x88, "\x03\xe8", 2);
    CHECK(send_messages_then(fd, MESSAGES, close_frame, n) == 0, "%d messages and a close frame sent at once", MESSAGES);
    sleep_ms(300); /* the I/O thread reads the close frame long before the host dispatches */
    CHECK(dispatch_until(&r, &r.n_msg, MESSAGES, WAIT_MS), "the host dispatches the %d messages", MESSAGES);
    CHECK(read_echoes(fd, MESSAGES) == MESSAGES, "every echo comes back, in order");
    CHECK(read_close(fd) == 1000, "then the answer to the close frame (1000)");
    CHECK(raw_wait_eof(fd, WAIT_MS) == 1, "then the server ends TCP");
    close(fd);
    CHECK(dispatch_until(&r, &r.n_close, 1, WAIT_MS), "on_close comes");
    CHECK(r.close_code == 1000, "with 1000 (got %d)", r.close_code);
    CHECK(r.echo_failures == 0, "no echo was refused (%d were)", r.echo_failures);
  }
  ws_server_free(s);
  dispatch_for(50);
  rec_destroy(&r);
}

static void fin_after_messages_poll(void) {
  rec r;
  rec_init(&r, "server");
  ws_server *s = echo_server(&r, WS_DISPATCH_POLL, 0);
  int fd = s ? raw_client(s) : -1;
  CHECK(fd >= 0, "a raw client connects to a polled echo server");
  if (fd >= 0) {
    CHECK(dispatch_until(&r, &r.n_open, 1, WAIT_MS), "the server's on_open is dispatched");
    CHECK(send_messages_then(fd, MESSAGES, NULL, 0) == 0 && shutdown(fd, SHUT_WR) == 0,
          "%d messages, then FIN", MESSAGES);
    sleep_ms(300); /* the I/O thread sees the FIN long before the host dispatches */
    CHECK(dispatch_until(&r, &r.n_msg, MESSAGES, WAIT_MS), "the host dispatches the %d messages", MESSAGES);
    CHECK(read_echoes(fd, MESSAGES) == MESSAGES, "every echo comes back, in order");
    CHECK(raw_wait_eof(fd, WAIT_MS) == 1, "then the server ends TCP");
    close(fd);
    CHECK(dispatch_until(&r, &r.n_close, 1, WAIT_MS), "on_close comes");
    CHECK(r.close_code == 1006, "with 1006: no close frame came (got %d)", r.close_code);
    CHECK(r.echo_failures == 0, "no echo was refused (%d were)", r.echo_failures);
  }
  ws_server_free(s);
  dispatch_for(50);
  rec_destroy(&r);
}

static void fin_after_a_message_thread(void) {
  rec r;
  rec_init(&r, "server");
  ws_server *s = echo_server(&r, WS_DISPATCH_THREAD, 0);
  int tries = 50, echoed = 0;
  for (int i = 0; i < tries; i++) {
    int fd = s ? raw_client(s) : -1;
    if (fd < 0) continue;
    if (send_messages_then(fd, 3, NULL, 0) == 0 && shutdown(fd, SHUT_WR) == 0) {
      echoed += read_echoes(fd, 3) == 3 && raw_wait_eof(fd, WAIT_MS) == 1;
    }
    close(fd);
  }
  CHECK(echoed == tries, "thread dispatch: 3 messages then FIN, %d times: every echo comes (%d of %d)", tries,
        echoed, tries);
  ws_server_free(s);
  rec_destroy(&r);
}

static void close_answer_held_at_most_the_close_timeout(void) {
  rec r;
  rec_init(&r, "server");
  ws_server *s = echo_server(&r, WS_DISPATCH_POLL, 300);
  int fd = s ? raw_client(s) : -1;
  CHECK(fd >= 0, "a raw client connects to a polled echo server (close timeout 300 ms)");
  if (fd >= 0) {
    unsigned char close_frame[16];
    size_t n = raw_client_frame(close_frame, 0x88, "\x03\xe8", 2);
    long long t0 = now_ms();
    CHECK(send_messages_then(fd, 1, close_frame, n) == 0, "a message and a close frame sent at once");
    /* The host dispatches nothing meanwhile. */
    int code = read_close(fd);
    long long took = now_ms() - t0;
    CHECK(code == 1000, "the close is answered without the echo (got %d)", code);
    CHECK(took >= 250 && took < 3000, "after the close timeout, not before (%lld ms)", took);
    CHECK(dispatch_until(&r, &r.n_close, 1, WAIT_MS), "the host then gets the message and the close");
    CHECK(r.n_msg == 1 && r.echo_failures == 1, "its late echo is refused (%d messages, %d refused)", r.n_msg,
          r.echo_failures);
    close(fd);
  }
  ws_server_free(s);
  dispatch_for(50);
  rec_destroy(&r);
}

static void stop_answers_what_arrived(int dispatch) {
  const char *mode = dispatch == WS_DISPATCH_POLL ? "poll" : "thread";
  rec r;
  rec_init(&r, "server");
  ws_server *s = echo_server(&r, dispatch, 0);
  int fds[CLIENTS];
  int connected = 0;
  for (int i = 0; i < CLIENTS; i++) {
    fds[i] = s ? raw_client(s) : -1;
    connected += fds[i] >= 0;
  }
  CHECK(connected == CLIENTS, "%s dispatch: %d raw clients connect", mode, CLIENTS);
  if (dispatch == WS_DISPATCH_POLL) {
    dispatch_until(&r, &r.n_open, CLIENTS, WAIT_MS);
  } else {
    rec_wait(&r, &r.n_open, CLIENTS, WAIT_MS);
  }
  for (int i = 0; i < CLIENTS; i++) {
    if (fds[i] >= 0) send_messages_then(fds[i], 1, NULL, 0);
  }
  ws_server_stop(s); /* right after: most messages have not been read yet */
  if (dispatch == WS_DISPATCH_POLL) dispatch_until(&r, &r.n_close, CLIENTS, WAIT_MS);
  int echoed = 0, closed = 0;
  for (int i = 0; i < CLIENTS; i++) {
    if (fds[i] < 0) continue;
    echoed += read_echoes(fds[i], 1);
    unsigned char close_frame[16];
    size_t n = raw_client_frame(close_frame, 0x88, "\x03\xe9", 2);
    int code = read_close(fds[i]);
    closed += code == 1001;
    raw_send_all(fds[i], close_frame, n);
    close(fds[i]);
  }
  CHECK(echoed == CLIENTS, "%s dispatch: every message that arrived before the stop is echoed (%d of %d)", mode,
        echoed, CLIENTS);
  CHECK(closed == CLIENTS, "%s dispatch: then each connection gets 1001 (%d of %d)", mode, closed, CLIENTS);
  CHECK(r.echo_failures == 0, "%s dispatch: no echo was refused (%d were)", mode, r.echo_failures);
  if (dispatch == WS_DISPATCH_POLL) dispatch_until(&r, &r.n_close, CLIENTS, WAIT_MS);
  CHECK(ws_server_wait_closed(s, WAIT_MS) == WS_STATUS_OK, "%s dispatch: every connection closed", mode);
  ws_server_free(s);
  dispatch_for(50);
  rec_destroy(&r);
}

int main(void) {
  CB = rec_callbacks();
  close_frame_after_messages_poll();
  fin_after_messages_poll();
  fin_after_a_message_thread();
  close_answer_held_at_most_the_close_timeout();
  stop_answers_what_arrived(WS_DISPATCH_THREAD);
  stop_answers_what_arrived(WS_DISPATCH_POLL);
  return check_summary();
}
