/*
 * check.h: the tiny assertion framework and helpers shared by the C tests.
 *
 * Each CHECK prints one line ("ok" or "FAIL" with file:line); check_summary()
 * prints exactly one line "N passed, M failed" and returns the exit status.
 * Also here: a callback recorder (mutex + condvar) for waiting on callback
 * results, and raw loopback socket helpers (127.0.0.1 / ::1 only).
 *
 * Everything is `static inline` so a test that does not use a helper does not
 * trip -Wunused-function. Note: the Makefile's rule for build/tests/% does not
 * list this header, so touch the .c files (or rm build/tests) after editing it.
 */
#ifndef WS_TEST_CHECK_H
#define WS_TEST_CHECK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "websocket.h"

/* Generous: a loaded 2-core machine, maybe under valgrind. */
#define WAIT_MS 5000

/* ------------------------------------------------------------------ checks */

static int g_passed, g_failed;
static pthread_mutex_t g_check_mu = PTHREAD_MUTEX_INITIALIZER;

static inline int check_impl(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
  char desc[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(desc, sizeof desc, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&g_check_mu);
  if (ok) {
    g_passed++;
    printf("ok   %d - %s\n", g_passed + g_failed, desc);
  } else {
    g_failed++;
    printf("FAIL %d - %s  [%s:%d: %s]\n", g_passed + g_failed, desc, file, line, expr);
  }
  fflush(stdout);
  pthread_mutex_unlock(&g_check_mu);
  return ok;
}

#define CHECK(cond, ...) check_impl(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

static inline void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("# ");
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
}

static inline const char *last_msg(void) {
  const char *m = ws_last_error_message();
  return m ? m : "(NULL)";
}

/* A status-returning call that must give `want`; for a negative `want` the
 * thread's last error must be `want` with a non-empty message. */
static inline int check_status_impl(int got, int want, const char *file, int line, const char *expr,
                                    const char *what) {
  int ok = got == want;
  char desc[600];
  if (want < 0) {
    int code = ws_last_error_code();
    const char *m = ws_last_error_message();
    ok = ok && code == want && m != NULL && m[0] != '\0';
    snprintf(desc, sizeof desc, "%s -> %s (got %d %s; last error %s \"%s\")", what, ws_status_name(want), got,
             ws_status_name(got), ws_status_name(code), m ? m : "(NULL)");
  } else {
    snprintf(desc, sizeof desc, "%s -> %d (got %d %s%s%s)", what, want, got, ws_status_name(got),
             got < 0 ? ": " : "", got < 0 ? last_msg() : "");
  }
  return check_impl(ok, file, line, expr, "%s", desc);
}
#define CHECK_STATUS(expr, want, what) check_status_impl((int)(expr), (want), __FILE__, __LINE__, #expr, (what))

/* A pointer-returning call that must fail: NULL, last error `want`, a message. */
static inline int check_null_impl(const void *got, int want, const char *file, int line, const char *expr,
                                  const char *what) {
  int code = ws_last_error_code();
  const char *m = ws_last_error_message();
  int ok = got == NULL && code == want && m != NULL && m[0] != '\0';
  return check_impl(ok, file, line, expr, "%s -> NULL + %s (got %p; last error %s \"%s\")", what,
                    ws_status_name(want), got, ws_status_name(code), m ? m : "(NULL)");
}
#define CHECK_NULL_ERR(expr, want, what) check_null_impl((const void *)(expr), (want), __FILE__, __LINE__, #expr, (what))

/* The library has no way to clear the last error, so before a call expected
 * to fail with `want`, provoke a different error: then the check proves that
 * this very call set it. ws_event_queue_set_limit(1) fails its range check
 * without touching the event queue. */
static inline void poison_last_error(int want) {
  if (want == WS_ERR_INVALID_ARGUMENT)
    (void)ws_server_config_set_dispatch(NULL, 0); /* WS_ERR_NULL */
  else
    (void)ws_event_queue_set_limit(1); /* WS_ERR_INVALID_ARGUMENT */
}

/* Like CHECK_STATUS / CHECK_NULL_ERR, poisoning the last error first. */
#define EXPECT_STATUS(expr, want, what)  \
  do {                                   \
    poison_last_error(want);             \
    CHECK_STATUS(expr, want, what);      \
  } while (0)
#define EXPECT_NULL_ERR(expr, want, what) \
  do {                                    \
    poison_last_error(want);              \
    CHECK_NULL_ERR(expr, want, what);     \
  } while (0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", g_passed, g_failed);
  fflush(stdout);
  return g_failed > 0 ? 1 : 0;
}

/* -------------------------------------------------------------------- time */

static inline long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* ---------------------------------------------------------------- recorder */

#define REC_MAX_CONNS 16

/* What the callbacks of one server or client saw, and how they behave. */
typedef struct rec {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const char *name;

  int n_open, n_msg, n_ping, n_pong, n_close, n_error, n_total;
  int n_text, n_binary;
  ws_conn *last_conn;          /* conn of the last callback (not retained) */
  ws_conn *open_conn;          /* conn of the first on_open (not retained) */
  ws_conn *conns[REC_MAX_CONNS]; /* retained in on_open when retain_open */
  int n_conns;

  int last_type;
  unsigned char *msg; /* copy of the last message (malloc) */
  size_t msg_len;
  unsigned char ping[128];
  size_t ping_len;
  unsigned char pong[128];
  size_t pong_len;
  int close_code;
  char close_reason[256];
  int close_codes[REC_MAX_CONNS]; /* every close code, in order */
  int err_status;
  char err_msg[512];
  int error_before_close; /* on_error came before on_close */

  /* thread checks */
  int check_thread;
  pthread_t want_thread;
  int wrong_thread;
  int on_main_thread; /* count of callbacks seen on want_thread */

  /* behaviour */
  int retain_open;   /* retain each conn in on_open (released by rec_destroy) */
  int echo;          /* send every message back from on_message */
  int echo_failures; /* echo sends that failed */
  ws_server *server;   /* for "free-server" / "broadcast" commands */
  ws_client *client;   /* for "free-client" */
  int freed_in_callback;
  int cmd_status;      /* status of the last command run in a callback */
  int wait_here_status; /* ws_server_wait_closed called inside a callback */
  void *user_data_seen; /* ws_conn_get_user_data in on_message */
  int dispatch_in_cb;  /* call ws_dispatch(0) from on_message (nested) */
  int dispatch_in_cb_result;
  size_t buffered_seen; /* ws_conn_buffered_amount after the "buffered" command */
  int slow_started, slow_done; /* the "slow" command: a callback that takes 500 ms */
} rec;

static inline void rec_init(rec *r, const char *name) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->name = name;
  r->close_code = -1;
  r->err_status = 1;
}

static inline void rec_destroy(rec *r) {
  for (int i = 0; i < r->n_conns; i++) ws_conn_release(r->conns[i]);
  r->n_conns = 0;
  free(r->msg);
  r->msg = NULL;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
}

/* Waits until *field >= target; 1 if reached within ms. */
static inline int rec_wait(rec *r, const int *field, int target, int ms) {
  struct timespec dl;
  deadline_in(&dl, ms);
  pthread_mutex_lock(&r->mu);
  while (*field < target) {
    if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
  }
  int ok = *field >= target;
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static inline int rec_get(rec *r, const int *field) {
  pthread_mutex_lock(&r->mu);
  int v = *field;
  pthread_mutex_unlock(&r->mu);
  return v;
}

static inline void rec_enter(rec *r, ws_conn *conn) {
  pthread_mutex_lock(&r->mu);
  r->last_conn = conn;
  r->n_total++;
  if (r->check_thread) {
    if (pthread_equal(pthread_self(), r->want_thread))
      r->on_main_thread++;
    else
      r->wrong_thread++;
  }
}

static inline void rec_leave(rec *r) {
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static inline void cb_open(void *ud, ws_conn *conn) {
  rec *r = ud;
  rec_enter(r, conn);
  if (!r->open_conn) r->open_conn = conn;
  if (r->retain_open && r->n_conns < REC_MAX_CONNS) r->conns[r->n_conns++] = ws_conn_retain(conn);
  r->n_open++;
  rec_leave(r);
}

static inline int is_cmd(const uint8_t *data, size_t len, const char *cmd) {
  return len == strlen(cmd) && memcmp(data, cmd, len) == 0;
}

static inline void cb_message(void *ud, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  rec *r = ud;
  rec_enter(r, conn);
  free(r->msg);
  r->msg = malloc(len + 1);
  if (r->msg) {
    if (len) memcpy(r->msg, data, len);
    r->msg[len] = 0;
  }
  r->msg_len = len;
  r->last_type = type;
  if (type == WS_MESSAGE_TEXT) r->n_text++;
  if (type == WS_MESSAGE_BINARY) r->n_binary++;
  r->user_data_seen = ws_conn_get_user_data(conn);
  /* Library calls from inside a callback. */
  if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "close-me")) {
    r->cmd_status = ws_conn_close(conn, 4000, "bye");
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "close-nocode")) {
    r->cmd_status = ws_conn_close(conn, 0, NULL);
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "free-server") && r->server) {
    ws_server *s = r->server;
    r->server = NULL;
    ws_server_free(s);
    r->freed_in_callback++;
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "free-client") && r->client) {
    ws_client *c = r->client;
    r->client = NULL;
    ws_client_free(c);
    r->freed_in_callback++;
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "buffered")) {
    /* The I/O thread is busy running this callback, so it cannot have taken
     * the message yet: the amount is at least its size. */
    static const uint8_t kilo[1000];
    r->cmd_status = ws_conn_send_binary(conn, kilo, sizeof kilo);
    r->buffered_seen = ws_conn_buffered_amount(conn);
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "wait-here")) {
    /* Waiting on the I/O thread would wait for itself: refused at once. */
    r->cmd_status = ws_conn_wait_closed(conn, 2000);
    r->wait_here_status = r->server ? ws_server_wait_closed(r->server, 2000) : WS_ERR_BAD_STATE;
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "slow")) {
    r->slow_started = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    sleep_ms(500);
    pthread_mutex_lock(&r->mu);
    r->slow_done = 1;
  } else if (type == WS_MESSAGE_TEXT && is_cmd(data, len, "broadcast") && r->server) {
    r->cmd_status = ws_server_broadcast(r->server, WS_MESSAGE_TEXT, (const uint8_t *)"all", 3);
  } else if (r->echo) {
    if (ws_conn_send(conn, type, data, len) != WS_STATUS_OK) r->echo_failures++;
  }
  if (r->dispatch_in_cb) {
    r->dispatch_in_cb = 0;
    pthread_mutex_unlock(&r->mu); /* the nested callbacks take it again */
    int n = ws_dispatch(0);
    pthread_mutex_lock(&r->mu);
    r->dispatch_in_cb_result = n;
  }
  r->n_msg++;
  rec_leave(r);
}

static inline void cb_ping(void *ud, ws_conn *conn, const uint8_t *data, size_t len) {
  rec *r = ud;
  rec_enter(r, conn);
  r->ping_len = len < sizeof r->ping ? len : sizeof r->ping;
  if (r->ping_len) memcpy(r->ping, data, r->ping_len);
  r->n_ping++;
  rec_leave(r);
}

static inline void cb_pong(void *ud, ws_conn *conn, const uint8_t *data, size_t len) {
  rec *r = ud;
  rec_enter(r, conn);
  r->pong_len = len < sizeof r->pong ? len : sizeof r->pong;
  if (r->pong_len) memcpy(r->pong, data, r->pong_len);
  r->n_pong++;
  rec_leave(r);
}

static inline void cb_close(void *ud, ws_conn *conn, uint16_t code, const char *reason) {
  rec *r = ud;
  rec_enter(r, conn);
  r->close_code = code;
  snprintf(r->close_reason, sizeof r->close_reason, "%s", reason ? reason : "(NULL)");
  if (r->n_close < REC_MAX_CONNS) r->close_codes[r->n_close] = code;
  r->n_close++;
  rec_leave(r);
}

static inline void cb_error(void *ud, ws_conn *conn, ws_status status, const char *message) {
  rec *r = ud;
  rec_enter(r, conn);
  r->err_status = status;
  snprintf(r->err_msg, sizeof r->err_msg, "%s", message ? message : "(NULL)");
  if (r->n_error == r->n_close) r->error_before_close = 1;
  r->n_error++;
  rec_leave(r);
}

static inline ws_callbacks rec_callbacks(void) {
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = cb_open;
  cb.on_message = cb_message;
  cb.on_ping = cb_ping;
  cb.on_pong = cb_pong;
  cb.on_close = cb_close;
  cb.on_error = cb_error;
  return cb;
}

/* ------------------------------------------------------------- raw sockets */

static inline void set_timeouts(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A TCP connection to 127.0.0.1:port (or [::1]:port when v6); -1 on error. */
static inline int raw_connect(int port, int v6) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int rc;
  if (v6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&a, sizeof a);
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  set_timeouts(fd, WAIT_MS);
  return fd;
}

static inline int raw_send_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static inline int raw_send_str(int fd, const char *s) { return raw_send_all(fd, s, strlen(s)); }

/* Reads until `delim` is in the buffer, EOF, error or timeout (SO_RCVTIMEO).
 * NUL-terminates; returns the number of bytes read. */
static inline size_t raw_read_until(int fd, char *buf, size_t cap, const char *delim) {
  size_t len = 0;
  buf[0] = 0;
  while (len + 1 < cap) {
    ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = 0;
    if (delim && strstr(buf, delim)) break;
  }
  return len;
}

/* Reads exactly n bytes; 0 on success. */
static inline int raw_read_exact(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

/* 1 when the peer closed the connection (EOF) within ms. */
static inline int raw_wait_eof(int fd, int ms) {
  long long end = now_ms() + ms;
  char buf[4096];
  while (now_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    int left = (int)(end - now_ms());
    if (left < 0) left = 0;
    int rc = poll(&p, 1, left);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return 0;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return 1;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return 1; /* reset counts as closed */
  }
  return 0;
}

/* A listening socket on 127.0.0.1 (or ::1) with a free port; -1 on error. */
static inline int raw_listen(int *port, int v6) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int rc;
  if (v6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  }
  if (rc != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  *port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static inline int free_port(void) {
  int port = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
    socklen_t sl = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &sl);
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

/* The RFC 6455 sample handshake (its accept is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=). */
static inline int raw_ws_handshake(int fd, const char *path, char *resp, size_t cap) {
  char req[512];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
           path);
  if (raw_send_str(fd, req) != 0) return -1;
  raw_read_until(fd, resp, cap, "\r\n\r\n");
  return strncmp(resp, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

/* Reads one unfragmented server frame (unmasked) of payload <= cap. Returns
 * the opcode byte (with FIN) or -1; *len gets the payload length. */
static inline int raw_read_frame(int fd, unsigned char *payload, size_t cap, size_t *len) {
  unsigned char h[2];
  if (raw_read_exact(fd, h, 2) != 0) return -1;
  size_t n = h[1] & 0x7f;
  if (n == 126) {
    unsigned char e[2];
    if (raw_read_exact(fd, e, 2) != 0) return -1;
    n = ((size_t)e[0] << 8) | e[1];
  } else if (n == 127) {
    return -1;
  }
  if (h[1] & 0x80) return -1; /* servers do not mask */
  if (n > cap) return -1;
  if (n && raw_read_exact(fd, payload, n) != 0) return -1;
  *len = n;
  return h[0];
}

/* Builds a masked client frame into out (room for len + 14 bytes); returns its length. */
static inline size_t raw_client_frame(unsigned char *out, int first_byte, const void *payload, size_t len) {
  static const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
  size_t i = 0;
  out[i++] = (unsigned char)first_byte;
  if (len < 126) {
    out[i++] = (unsigned char)(0x80 | len);
  } else if (len <= 0xffff) {
    out[i++] = 0x80 | 126;
    out[i++] = (unsigned char)(len >> 8);
    out[i++] = (unsigned char)len;
  } else {
    out[i++] = 0x80 | 127;
    for (int shift = 56; shift >= 0; shift -= 8) out[i++] = (unsigned char)((uint64_t)len >> shift);
  }
  memcpy(out + i, key, 4);
  i += 4;
  for (size_t k = 0; k < len; k++) out[i + k] = ((const unsigned char *)payload)[k] ^ key[k % 4];
  return i + len;
}


/* ------------------------------------------------------- files and HTTP */

/* A new private directory under $TMPDIR (or /tmp) into buf; 0 on success. */
static inline int temp_dir_make(char *buf, size_t cap, const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !base[0]) base = "/tmp";
  snprintf(buf, cap, "%s/libwebsocket-%s-XXXXXX", base, tag);
  return mkdtemp(buf) ? 0 : -1;
}

/* Removes a directory made by temp_dir_make and everything in it. */
static inline int temp_dir_remove(const char *dir) {
  if (!dir || !strstr(dir, "/libwebsocket-")) return -1; /* never anything else */
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Writes len bytes to dir/name; 0 on success. */
static inline int write_file_in(const char *dir, const char *name, const void *data, size_t len) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(data, 1, len, f) == len;
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* The whole of dir/name, NUL-terminated, in a malloc'ed buffer (free it);
 * NULL on error. *len (may be NULL) gets the size without the NUL. */
static inline char *read_file_in(const char *dir, const char *name, size_t *len) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    if (n + 1 >= cap) {
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - 1 - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* Sends `request` to 127.0.0.1:port on a new connection and reads the answer
 * until the server closes (or WAIT_MS pass) into resp (NUL-terminated).
 * Returns the number of bytes read, or -1 when the connection failed. */
static inline long raw_exchange(int port, const char *request, char *resp, size_t cap) {
  resp[0] = 0;
  int fd = raw_connect(port, 0);
  if (fd < 0) return -1;
  long n = -1;
  if (raw_send_str(fd, request) == 0) n = (long)raw_read_until(fd, resp, cap, NULL);
  close(fd);
  return n;
}

/* The body of an HTTP response in resp (after the blank line), or NULL. */
static inline const char *http_body(const char *resp) {
  const char *p = strstr(resp, "\r\n\r\n");
  return p ? p + 4 : NULL;
}

/* 1 when the head of the HTTP response in resp has the line "Name: value"
 * (name compared case-insensitively, value exactly). */
static inline int http_has_header(const char *resp, const char *name, const char *value) {
  const char *end = strstr(resp, "\r\n\r\n");
  size_t nl = strlen(name), vl = strlen(value);
  for (const char *p = strstr(resp, "\r\n"); p && (!end || p < end); p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ') v++;
      if (strncmp(v, value, vl) == 0 && v[vl] == '\r') return 1;
    }
  }
  return 0;
}

#endif
