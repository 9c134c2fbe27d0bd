/*
 * test_api: every function of include/websocket.h in thread-dispatch mode,
 * with its error paths, over real loopback sockets (127.0.0.1 and ::1).
 * The polled event queue is in test_poll.c.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#include <ctype.h>

static ws_callbacks CB; /* every callback of check.h's recorder */

/* ------------------------------------------------------------ helpers */

static ws_server *listen_on(const char *host, rec *r, const ws_server_config *cfg) {
  return ws_server_listen(host, 0, cfg, &CB, r);
}

static ws_client *connect_to(int port, const char *path, rec *r, const ws_client_config *cfg) {
  char url[512];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", port, path);
  return ws_client_connect(url, cfg, r ? &CB : NULL, r); /* no recorder: no callbacks */
}

/* The first line of an HTTP response, for messages (static buffer). */
static const char *first_line(const char *s) {
  static char line[128];
  size_t n = strcspn(s, "\r\n");
  if (n >= sizeof line) n = sizeof line - 1;
  memcpy(line, s, n);
  line[n] = 0;
  return line;
}

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* "127.0.0.1:NNNN" (or "[::1]:NNNN") with a port in 1..65535; the port or -1. */
static int parse_peer(const char *s, const char *host) {
  if (!s) return -1;
  size_t hl = strlen(host);
  if (strncmp(s, host, hl) != 0 || s[hl] != ':') return -1;
  const char *p = s + hl + 1;
  if (!*p) return -1;
  long v = 0;
  for (; *p; p++) {
    if (!isdigit((unsigned char)*p)) return -1;
    v = v * 10 + (*p - '0');
    if (v > 65535) return -1;
  }
  return v >= 1 ? (int)v : -1;
}

/* Waits for ws_conn_state(c) == want. */
static int wait_state(const ws_conn *c, int want, int ms) {
  long long end = now_ms() + ms;
  while (ws_conn_state(c) != want && now_ms() < end) sleep_ms(5);
  return ws_conn_state(c) == want;
}

static int wait_count(const ws_server *s, size_t want, int ms) {
  long long end = now_ms() + ms;
  while (ws_server_connection_count(s) != want && now_ms() < end) sleep_ms(5);
  return ws_server_connection_count(s) == want;
}

static int msg_is(rec *r, int type, const void *data, size_t len) {
  pthread_mutex_lock(&r->mu);
  int ok = r->last_type == type && r->msg_len == len && (len == 0 || memcmp(r->msg, data, len) == 0);
  pthread_mutex_unlock(&r->mu);
  return ok;
}

/* ------------------------------------------------------------ basics */

static void *fresh_thread_last_error(void *arg) {
  int *out = arg;
  const char *m = ws_last_error_message();
  out[0] = ws_last_error_code();
  out[1] = m != NULL && m[0] == '\0';
  /* Fail here; the main thread's last error must not change. */
  (void)ws_client_conn(NULL);
  out[2] = ws_last_error_code();
  return NULL;
}

static void test_last_error_model(void) {
  note("last error: per thread, not reset by successes");
  int seen[3] = {99, 0, 99};
  pthread_t t;
  poison_last_error(WS_ERR_NULL); /* main: WS_ERR_INVALID_ARGUMENT */
  pthread_create(&t, NULL, fresh_thread_last_error, seen);
  pthread_join(t, NULL);
  CHECK(seen[0] == WS_STATUS_OK, "a fresh thread's ws_last_error_code() is WS_STATUS_OK (got %d)", seen[0]);
  CHECK(seen[1], "a fresh thread's ws_last_error_message() is \"\"");
  CHECK(seen[2] == WS_ERR_NULL, "the other thread's own failure is WS_ERR_NULL (got %d)", seen[2]);
  CHECK(ws_last_error_code() == WS_ERR_INVALID_ARGUMENT,
        "the main thread's last error is untouched by another thread's failure (got %s)",
        ws_status_name(ws_last_error_code()));
  char before[256];
  snprintf(before, sizeof before, "%s", last_msg());
  CHECK(ws_init() == WS_STATUS_OK, "ws_init succeeds");
  ws_server_config *cfg = ws_server_config_new();
  CHECK(ws_server_config_set_max_connections(cfg, 5) == WS_STATUS_OK, "a setter succeeds");
  ws_server_config_free(cfg);
  CHECK(ws_last_error_code() == WS_ERR_INVALID_ARGUMENT && str_eq(before, ws_last_error_message()),
        "successful calls do not reset the last error (\"%s\")", last_msg());
}

static void test_version_names_constants(void) {
  note("ws_version, ws_init, ws_status_name, constants");
  const char *v = ws_version();
  unsigned a, b, c;
  int n = -1;
  CHECK(v != NULL && v[0] != '\0', "ws_version is non-empty (\"%s\")", v ? v : "(NULL)");
  CHECK(v && sscanf(v, "%u.%u.%u%n", &a, &b, &c, &n) == 3 && n == (int)strlen(v) && isdigit((unsigned char)v[0]),
        "ws_version is MAJOR.MINOR.PATCH (\"%s\")", v ? v : "(NULL)");
  CHECK(ws_version() == v, "ws_version returns a static string");
  CHECK(ws_init() == WS_STATUS_OK, "ws_init -> WS_STATUS_OK");
  CHECK(ws_init() == WS_STATUS_OK, "ws_init again -> WS_STATUS_OK (no-op)");

  static const struct {
    int code;
    const char *name;
  } names[] = {
      {WS_STATUS_OK, "WS_STATUS_OK"},
      {WS_ERR_NULL, "WS_ERR_NULL"},
      {WS_ERR_INVALID_ARGUMENT, "WS_ERR_INVALID_ARGUMENT"},
      {WS_ERR_BAD_URL, "WS_ERR_BAD_URL"},
      {WS_ERR_NOT_SUPPORTED, "WS_ERR_NOT_SUPPORTED"},
      {WS_ERR_CONNECT, "WS_ERR_CONNECT"},
      {WS_ERR_HANDSHAKE, "WS_ERR_HANDSHAKE"},
      {WS_ERR_PROTOCOL, "WS_ERR_PROTOCOL"},
      {WS_ERR_NOT_OPEN, "WS_ERR_NOT_OPEN"},
      {WS_ERR_QUEUE_FULL, "WS_ERR_QUEUE_FULL"},
      {WS_ERR_TOO_LARGE, "WS_ERR_TOO_LARGE"},
      {WS_ERR_INVALID_UTF8, "WS_ERR_INVALID_UTF8"},
      {WS_ERR_INVALID_CLOSE_CODE, "WS_ERR_INVALID_CLOSE_CODE"},
      {WS_ERR_TIMEOUT, "WS_ERR_TIMEOUT"},
      {WS_ERR_IO, "WS_ERR_IO"},
      {WS_ERR_BAD_STATE, "WS_ERR_BAD_STATE"},
      {WS_ERR_INTERNAL, "WS_ERR_INTERNAL"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    CHECK(names[i].code == -(int)i, "%s == %d", names[i].name, -(int)i);
    CHECK(str_eq(ws_status_name(names[i].code), names[i].name), "ws_status_name(%d) == \"%s\" (got \"%s\")",
          names[i].code, names[i].name, ws_status_name(names[i].code));
  }
  CHECK(str_eq(ws_status_name(WS_FRAME_NONE), "WS_FRAME_NONE") && WS_FRAME_NONE == 1,
        "ws_status_name(WS_FRAME_NONE) (a positive status)");
  CHECK(str_eq(ws_status_name(WS_STATUS_BACKPRESSURE), "WS_STATUS_BACKPRESSURE") && WS_STATUS_BACKPRESSURE == 2,
        "ws_status_name(WS_STATUS_BACKPRESSURE) (a positive status)");
  static const int unknown[] = {3, -18, 1000, -1000, 2147483647, -2147483647 - 1};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
    CHECK(str_eq(ws_status_name(unknown[i]), "WS_ERR_UNKNOWN"), "ws_status_name(%d) == \"WS_ERR_UNKNOWN\"",
          unknown[i]);

  static const struct {
    int value, want;
    const char *name;
  } consts[] = {
      {WS_OK, 1000, "WS_OK"},
      {WS_GONE, 1001, "WS_GONE"},
      {WS_PROTOCOL_ERROR, 1002, "WS_PROTOCOL_ERROR"},
      {WS_NOT_ACCEPTABLE, 1003, "WS_NOT_ACCEPTABLE"},
      {WS_NO_STATUS, 1005, "WS_NO_STATUS"},
      {WS_CLOSED_ABNORMALLY, 1006, "WS_CLOSED_ABNORMALLY"},
      {WS_BAD_MESSAGE, 1007, "WS_BAD_MESSAGE"},
      {WS_FORBIDDEN, 1008, "WS_FORBIDDEN"},
      {WS_MESSAGE_TOO_LARGE, 1009, "WS_MESSAGE_TOO_LARGE"},
      {WS_EXTENSIONS_NOT_AVAILABLE, 1010, "WS_EXTENSIONS_NOT_AVAILABLE"},
      {WS_INTERNAL_SERVER_ERROR, 1011, "WS_INTERNAL_SERVER_ERROR"},
      {WS_TLS_HANDSHAKE_FAIL, 1015, "WS_TLS_HANDSHAKE_FAIL"},
      {WS_MESSAGE_TEXT, 1, "WS_MESSAGE_TEXT"},
      {WS_MESSAGE_BINARY, 2, "WS_MESSAGE_BINARY"},
      {WS_STATE_CONNECTING, 0, "WS_STATE_CONNECTING"},
      {WS_STATE_OPEN, 1, "WS_STATE_OPEN"},
      {WS_STATE_CLOSING, 2, "WS_STATE_CLOSING"},
      {WS_STATE_CLOSED, 3, "WS_STATE_CLOSED"},
      {WS_DISPATCH_THREAD, 0, "WS_DISPATCH_THREAD"},
      {WS_DISPATCH_POLL, 1, "WS_DISPATCH_POLL"},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    CHECK(consts[i].value == consts[i].want, "%s == %d (got %d)", consts[i].name, consts[i].want, consts[i].value);
}

/* ------------------------------------------------------------ configs */

static void test_server_config(void) {
  note("server configuration");
  ws_server_config *cfg = ws_server_config_new();
  CHECK(cfg != NULL, "ws_server_config_new returns a config");
  if (!cfg) return;
  EXPECT_STATUS(ws_server_config_set_dispatch(cfg, WS_DISPATCH_POLL), WS_STATUS_OK, "set_dispatch(POLL)");
  EXPECT_STATUS(ws_server_config_set_dispatch(cfg, WS_DISPATCH_THREAD), WS_STATUS_OK, "set_dispatch(THREAD)");
  EXPECT_STATUS(ws_server_config_set_dispatch(cfg, 2), WS_ERR_INVALID_ARGUMENT, "set_dispatch(2)");
  EXPECT_STATUS(ws_server_config_set_dispatch(cfg, -1), WS_ERR_INVALID_ARGUMENT, "set_dispatch(-1)");
  EXPECT_STATUS(ws_server_config_set_max_message_size(cfg, 1), WS_STATUS_OK, "server set_max_message_size(1)");
  EXPECT_STATUS(ws_server_config_set_max_message_size(cfg, UINT64_MAX), WS_STATUS_OK,
                "server set_max_message_size(UINT64_MAX)");
  EXPECT_STATUS(ws_server_config_set_max_message_size(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "server set_max_message_size(0)");
  EXPECT_STATUS(ws_server_config_set_send_queue_limit(cfg, 1 << 20), WS_STATUS_OK, "server set_send_queue_limit(1 MiB)");
  EXPECT_STATUS(ws_server_config_set_send_queue_limit(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "server set_send_queue_limit(0)");
  EXPECT_STATUS(ws_server_config_set_handshake_timeout_ms(cfg, 2500), WS_STATUS_OK, "set_handshake_timeout_ms(2500)");
  EXPECT_STATUS(ws_server_config_set_handshake_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "set_handshake_timeout_ms(0)");
  EXPECT_STATUS(ws_server_config_set_close_timeout_ms(cfg, 1500), WS_STATUS_OK, "server set_close_timeout_ms(1500)");
  EXPECT_STATUS(ws_server_config_set_close_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "server set_close_timeout_ms(0)");
  EXPECT_STATUS(ws_server_config_set_max_connections(cfg, 3), WS_STATUS_OK, "set_max_connections(3)");
  EXPECT_STATUS(ws_server_config_set_max_connections(cfg, 0), WS_ERR_INVALID_ARGUMENT, "set_max_connections(0)");
  EXPECT_STATUS(ws_server_config_set_max_handshakes(cfg, 64), WS_STATUS_OK, "set_max_handshakes(64)");
  EXPECT_STATUS(ws_server_config_set_max_handshakes(cfg, 0), WS_ERR_INVALID_ARGUMENT, "set_max_handshakes(0)");
  EXPECT_STATUS(ws_server_config_set_max_handshakes(NULL, 64), WS_ERR_NULL, "set_max_handshakes(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_memory_budget(cfg, 1 << 20, 1 << 20), WS_STATUS_OK, "set_memory_budget");
  EXPECT_STATUS(ws_server_config_set_memory_budget(cfg, 0, 1 << 20), WS_ERR_INVALID_ARGUMENT,
                "set_memory_budget(0 inbound)");
  EXPECT_STATUS(ws_server_config_set_memory_budget(cfg, 1 << 20, 0), WS_ERR_INVALID_ARGUMENT,
                "set_memory_budget(0 outbound)");
  EXPECT_STATUS(ws_set_memory_budget(0, 1), WS_ERR_INVALID_ARGUMENT, "ws_set_memory_budget(0, 1)");
  EXPECT_STATUS(ws_set_memory_budget((size_t)1 << 30, (size_t)1 << 30), WS_STATUS_OK,
                "ws_set_memory_budget(the defaults)");

  EXPECT_STATUS(ws_server_config_set_dispatch(NULL, WS_DISPATCH_THREAD), WS_ERR_NULL, "set_dispatch(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_max_message_size(NULL, 10), WS_ERR_NULL, "server set_max_message_size(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_send_queue_limit(NULL, 10), WS_ERR_NULL, "server set_send_queue_limit(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_handshake_timeout_ms(NULL, 10), WS_ERR_NULL,
                "set_handshake_timeout_ms(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_close_timeout_ms(NULL, 10), WS_ERR_NULL, "server set_close_timeout_ms(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_max_connections(NULL, 10), WS_ERR_NULL, "set_max_connections(NULL cfg)");
  ws_server_config_free(cfg);
  ws_server_config_free(NULL);
  CHECK(1, "ws_server_config_free(NULL) is a no-op");

  /* The config is copied by ws_server_listen: free it right after. */
  cfg = ws_server_config_new();
  ws_server_config_set_max_connections(cfg, 7);
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, NULL, NULL);
  ws_server_config_free(cfg);
  CHECK(s != NULL && ws_server_port(s) > 0, "a server listens with a config freed right after (copied)");
  ws_client *c = s ? connect_to(ws_server_port(s), "/", NULL, NULL) : NULL;
  CHECK(c && ws_conn_wait_open(ws_client_conn(c), WAIT_MS) == WS_STATUS_OK, "a client connects to it");
  ws_client_free(c);
  ws_server_free(s);
}

static void test_client_config(void) {
  note("client configuration");
  ws_client_config *cfg = ws_client_config_new();
  CHECK(cfg != NULL, "ws_client_config_new returns a config");
  if (!cfg) return;
  EXPECT_STATUS(ws_client_config_set_dispatch(cfg, WS_DISPATCH_POLL), WS_STATUS_OK, "client set_dispatch(POLL)");
  EXPECT_STATUS(ws_client_config_set_dispatch(cfg, WS_DISPATCH_THREAD), WS_STATUS_OK, "client set_dispatch(THREAD)");
  EXPECT_STATUS(ws_client_config_set_dispatch(cfg, 7), WS_ERR_INVALID_ARGUMENT, "client set_dispatch(7)");
  EXPECT_STATUS(ws_client_config_set_dispatch(cfg, -3), WS_ERR_INVALID_ARGUMENT, "client set_dispatch(-3)");
  EXPECT_STATUS(ws_client_config_set_max_message_size(cfg, 4096), WS_STATUS_OK, "client set_max_message_size(4096)");
  EXPECT_STATUS(ws_client_config_set_max_message_size(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "client set_max_message_size(0)");
  EXPECT_STATUS(ws_client_config_set_send_queue_limit(cfg, 4096), WS_STATUS_OK, "client set_send_queue_limit(4096)");
  EXPECT_STATUS(ws_client_config_set_send_queue_limit(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "client set_send_queue_limit(0)");
  EXPECT_STATUS(ws_client_config_set_connect_timeout_ms(cfg, 3000), WS_STATUS_OK, "set_connect_timeout_ms(3000)");
  EXPECT_STATUS(ws_client_config_set_connect_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT, "set_connect_timeout_ms(0)");
  EXPECT_STATUS(ws_client_config_set_close_timeout_ms(cfg, 3000), WS_STATUS_OK, "client set_close_timeout_ms(3000)");
  EXPECT_STATUS(ws_client_config_set_close_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "client set_close_timeout_ms(0)");

  EXPECT_STATUS(ws_client_config_add_header(cfg, "Authorization", "Bearer x"), WS_STATUS_OK,
                "add_header(Authorization: Bearer x)");
  EXPECT_STATUS(ws_client_config_add_header(cfg, "X-Custom_1.a~b!", "some value; with=stuff"), WS_STATUS_OK,
                "add_header with token characters in the name");
  EXPECT_STATUS(ws_client_config_add_header(cfg, "X-Empty", ""), WS_STATUS_OK, "add_header with an empty value");
  static const char *bad_names[] = {"", "Bad Name", "Bad:Name", "X\r\nY", "X\nY", "Bad(Name)", "Na\"me", "Ä"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "add_header with bad name #%zu", i);
    EXPECT_STATUS(ws_client_config_add_header(cfg, bad_names[i], "v"), WS_ERR_INVALID_ARGUMENT, what);
  }
  static const char *bad_values[] = {"a\r\nb", "a\nb", "a\rb", "x\r\nEvil: 1"};
  for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "add_header with CR/LF in the value #%zu", i);
    EXPECT_STATUS(ws_client_config_add_header(cfg, "X-Ok", bad_values[i]), WS_ERR_INVALID_ARGUMENT, what);
  }
  static const char *reserved[] = {"Host",           "Upgrade",  "Connection",           "Sec-WebSocket-Key",
                                   "Sec-WebSocket-Version", "host", "UPGRADE", "sec-websocket-key",
                                   "SEC-WEBSOCKET-VERSION", "connection"};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "add_header(\"%s\") (reserved)", reserved[i]);
    EXPECT_STATUS(ws_client_config_add_header(cfg, reserved[i], "x"), WS_ERR_INVALID_ARGUMENT, what);
  }
  EXPECT_STATUS(ws_client_config_add_header(cfg, "\xff\xfe", "v"), WS_ERR_INVALID_ARGUMENT,
                "add_header with a non-UTF-8 name");
  EXPECT_STATUS(ws_client_config_add_header(cfg, NULL, "v"), WS_ERR_NULL, "add_header(NULL name)");
  EXPECT_STATUS(ws_client_config_add_header(cfg, "X-A", NULL), WS_ERR_NULL, "add_header(NULL value)");
  EXPECT_STATUS(ws_client_config_add_header(NULL, "X-A", "v"), WS_ERR_NULL, "add_header(NULL cfg)");

  EXPECT_STATUS(ws_client_config_set_dispatch(NULL, 0), WS_ERR_NULL, "client set_dispatch(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_max_message_size(NULL, 1), WS_ERR_NULL, "client set_max_message_size(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_send_queue_limit(NULL, 1), WS_ERR_NULL, "client set_send_queue_limit(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_connect_timeout_ms(NULL, 1), WS_ERR_NULL, "set_connect_timeout_ms(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_close_timeout_ms(NULL, 1), WS_ERR_NULL, "client set_close_timeout_ms(NULL cfg)");
  ws_client_config_free(cfg);
  ws_client_config_free(NULL);
  CHECK(1, "ws_client_config_free(NULL) is a no-op");
}

/* ------------------------------------------------------------ NULL arguments */

static void test_null_arguments(void) {
  note("NULL for every pointer argument");
  static const uint8_t d[4] = {1, 2, 3, 4};
  int dummy;
  EXPECT_NULL_ERR(ws_client_connect(NULL, NULL, NULL, NULL), WS_ERR_NULL, "ws_client_connect(NULL url)");
  EXPECT_NULL_ERR(ws_client_conn(NULL), WS_ERR_NULL, "ws_client_conn(NULL)");
  ws_client_free(NULL);
  CHECK(1, "ws_client_free(NULL) is a no-op");

  EXPECT_STATUS(ws_conn_send(NULL, WS_MESSAGE_TEXT, d, 1), WS_ERR_NULL, "ws_conn_send(NULL conn)");
  EXPECT_STATUS(ws_conn_send_text(NULL, "a", 1), WS_ERR_NULL, "ws_conn_send_text(NULL conn)");
  EXPECT_STATUS(ws_conn_send_binary(NULL, d, 1), WS_ERR_NULL, "ws_conn_send_binary(NULL conn)");
  EXPECT_STATUS(ws_conn_ping(NULL, d, 1), WS_ERR_NULL, "ws_conn_ping(NULL conn)");
  EXPECT_STATUS(ws_conn_pong(NULL, d, 1), WS_ERR_NULL, "ws_conn_pong(NULL conn)");
  EXPECT_STATUS(ws_conn_close(NULL, 1000, "x"), WS_ERR_NULL, "ws_conn_close(NULL conn)");
  poison_last_error(WS_ERR_NULL);
  int st = ws_conn_state(NULL);
  CHECK(st < 0 && ws_last_error_code() == WS_ERR_NULL && ws_last_error_message()[0],
        "ws_conn_state(NULL) -> negative + WS_ERR_NULL (got %d, \"%s\")", st, last_msg());
  EXPECT_NULL_ERR(ws_conn_peer_address(NULL), WS_ERR_NULL, "ws_conn_peer_address(NULL)");
  EXPECT_NULL_ERR(ws_conn_path(NULL), WS_ERR_NULL, "ws_conn_path(NULL)");
  EXPECT_NULL_ERR(ws_conn_query(NULL), WS_ERR_NULL, "ws_conn_query(NULL)");
  CHECK(ws_conn_buffered_amount(NULL) == 0, "ws_conn_buffered_amount(NULL) -> 0");
  poison_last_error(WS_ERR_NULL);
  int cc = ws_conn_close_code(NULL);
  CHECK(cc < 0 && ws_last_error_code() == WS_ERR_NULL, "ws_conn_close_code(NULL) -> negative + WS_ERR_NULL (got %d)",
        cc);
  EXPECT_NULL_ERR(ws_conn_retain(NULL), WS_ERR_NULL, "ws_conn_retain(NULL)");
  ws_conn_release(NULL);
  CHECK(1, "ws_conn_release(NULL) is a no-op");
  EXPECT_STATUS(ws_conn_set_user_data(NULL, &dummy), WS_ERR_NULL, "ws_conn_set_user_data(NULL conn)");
  CHECK(ws_conn_get_user_data(NULL) == NULL, "ws_conn_get_user_data(NULL) -> NULL");
  EXPECT_STATUS(ws_conn_wait_open(NULL, 10), WS_ERR_NULL, "ws_conn_wait_open(NULL)");
  EXPECT_STATUS(ws_conn_wait_closed(NULL, 10), WS_ERR_NULL, "ws_conn_wait_closed(NULL)");

  EXPECT_NULL_ERR(ws_server_listen(NULL, 0, NULL, NULL, NULL), WS_ERR_NULL, "ws_server_listen(NULL host)");
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_server_port(NULL) == 0 && ws_last_error_code() == WS_ERR_NULL, "ws_server_port(NULL) -> 0 + WS_ERR_NULL");
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_server_connection_count(NULL) == 0 && ws_last_error_code() == WS_ERR_NULL,
        "ws_server_connection_count(NULL) -> 0 + WS_ERR_NULL");
  ws_conn *arr[2];
  EXPECT_STATUS(ws_server_connections(NULL, NULL, 0), WS_ERR_NULL, "ws_server_connections(NULL server)");
  EXPECT_STATUS(ws_server_connections(NULL, arr, 2), WS_ERR_NULL, "ws_server_connections(NULL server, array)");
  EXPECT_STATUS(ws_server_broadcast(NULL, WS_MESSAGE_TEXT, d, 1), WS_ERR_NULL, "ws_server_broadcast(NULL server)");
  EXPECT_STATUS(ws_server_stop(NULL), WS_ERR_NULL, "ws_server_stop(NULL)");
  EXPECT_STATUS(ws_server_wait_closed(NULL, 0), WS_ERR_NULL, "ws_server_wait_closed(NULL)");
  ws_server_free(NULL);
  CHECK(1, "ws_server_free(NULL) is a no-op");

  CHECK(ws_last_error_message() != NULL, "ws_last_error_message() is never NULL");
  EXPECT_STATUS(ws_event_queue_set_limit(1000), WS_ERR_INVALID_ARGUMENT, "ws_event_queue_set_limit(1000) (too small)");
  EXPECT_STATUS(ws_event_queue_set_limit(0), WS_ERR_INVALID_ARGUMENT, "ws_event_queue_set_limit(0)");
  EXPECT_STATUS(ws_event_queue_set_limit(64 * 1024 - 1), WS_ERR_INVALID_ARGUMENT,
                "ws_event_queue_set_limit(64 KiB - 1)");
}

/* ------------------------------------------------------------ URLs */

static void test_urls(void) {
  note("bad URLs, wss://");
  static const char *bad[] = {"http://x",          "ws://",     "ws://host:99999/", "ws://h/#frag", "not a url",
                              "",                  "ws:/x",     "ftp://127.0.0.1/", "ws://127.0.0.1:0x10/",
                              "ws://[::1/",        "ws://h:/", "ws://user@h/",    "ws://h/a b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "ws_client_connect(\"%s\")", bad[i]);
    rec r;
    rec_init(&r, "bad-url");
    ws_client *c = ws_client_connect(bad[i], NULL, &CB, &r);
    CHECK_NULL_ERR(c, WS_ERR_BAD_URL, what);
    ws_client_free(c);
    rec_destroy(&r);
  }
  /* wss:// is supported: to a closed port it gives a client whose connection
   * fails like ws:// does (WS_ERR_CONNECT, 1006). Verification is turned off
   * only so the result does not depend on this machine's CA store (with no
   * trusted CA at all, ws_client_connect refuses wss:// with WS_ERR_TLS; see
   * test_tls.c, which covers TLS itself). */
  ws_client_config *tcfg = ws_client_config_new();
  ws_client_config_dangerous_disable_tls_verification(tcfg);
  static const char *const wss[] = {"wss://127.0.0.1:%d/", "WSS://127.0.0.1:%d/x"};
  for (size_t i = 0; i < sizeof wss / sizeof wss[0]; i++) {
    char url[64], what[128];
    snprintf(url, sizeof url, wss[i], free_port());
    rec r;
    rec_init(&r, "wss-closed-port");
    ws_client *c = ws_client_connect(url, tcfg, &CB, &r);
    CHECK(c != NULL, "ws_client_connect(\"%s\") returns a client (%s)", url, c ? "ok" : last_msg());
    if (c) {
      snprintf(what, sizeof what, "wait_open on \"%s\" (closed port)", url);
      EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(c), WAIT_MS), WS_ERR_CONNECT, what);
      CHECK(rec_wait(&r, &r.n_close, 1, WAIT_MS) && r.n_error == 1 && r.err_status == WS_ERR_CONNECT &&
                r.close_code == WS_CLOSED_ABNORMALLY && r.n_open == 0,
            "%s: on_error(WS_ERR_CONNECT) + on_close(1006) (got %s \"%s\", %d)", url, ws_status_name(r.err_status),
            r.err_msg, r.close_code);
    }
    ws_client_free(c);
    rec_destroy(&r);
  }
  ws_client_config_free(tcfg);
  EXPECT_NULL_ERR(ws_client_connect("ws://\xff\xfe/", NULL, NULL, NULL), WS_ERR_INVALID_ARGUMENT,
                  "ws_client_connect(non-UTF-8 url)");
}

/* ------------------------------------------------------------ one full session */

static void test_session(void) {
  note("a client session against an echo server on 127.0.0.1");
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server *srv = listen_on("127.0.0.1", &sr, NULL);
  CHECK(srv != NULL, "ws_server_listen(127.0.0.1, 0) (%s)", srv ? "ok" : last_msg());
  if (!srv) return;
  int port = ws_server_port(srv);
  CHECK(port > 0, "ws_server_port > 0 (%d)", port);
  CHECK(ws_server_connection_count(srv) == 0, "no connections yet");

  ws_client *cl = connect_to(port, "/chat/room?x=1&y=2", &cr, NULL);
  CHECK(cl != NULL, "ws_client_connect returns a client (%s)", cl ? "ok" : last_msg());
  if (!cl) {
    ws_server_free(srv);
    return;
  }
  ws_conn *c = ws_client_conn(cl);
  CHECK(c != NULL, "ws_client_conn returns the connection");
  CHECK(ws_client_conn(cl) == c, "ws_client_conn is stable");
  int st = ws_conn_state(c);
  CHECK(st == WS_STATE_CONNECTING || st == WS_STATE_OPEN, "state right after connect is CONNECTING/OPEN (%d)", st);
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "ws_conn_wait_open");
  CHECK(ws_conn_state(c) == WS_STATE_OPEN, "state OPEN after wait_open");
  CHECK_STATUS(ws_conn_wait_open(c, -1), WS_STATUS_OK, "ws_conn_wait_open(-1: no limit) on an open conn");
  CHECK_STATUS(ws_conn_wait_open(c, 0), WS_STATUS_OK, "ws_conn_wait_open(0) on an open conn");
  EXPECT_STATUS(ws_conn_wait_closed(c, 0), WS_ERR_TIMEOUT, "ws_conn_wait_closed(0) on an open conn");
  CHECK(ws_conn_close_code(c) == 0, "ws_conn_close_code is 0 while open");
  CHECK(rec_wait(&cr, &cr.n_open, 1, WAIT_MS), "client on_open");
  CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS), "server on_open");
  CHECK(cr.open_conn == c, "client on_open gets the client's conn");
  CHECK(cr.n_error == 0 && sr.n_error == 0, "no on_error");
  ws_conn *sc = sr.n_conns ? sr.conns[0] : NULL;
  CHECK(sc != NULL && ws_conn_state(sc) == WS_STATE_OPEN, "server-side conn is OPEN");
  if (!sc) goto out;
  CHECK(wait_count(srv, 1, WAIT_MS), "ws_server_connection_count == 1");

  CHECK(str_eq(ws_conn_path(sc), "/chat/room"), "server conn path \"/chat/room\" (got \"%s\")", ws_conn_path(sc));
  CHECK(str_eq(ws_conn_query(sc), "x=1&y=2"), "server conn query \"x=1&y=2\" (got \"%s\")", ws_conn_query(sc));
  CHECK(str_eq(ws_conn_path(c), "/chat/room"), "client conn path \"/chat/room\" (got \"%s\")", ws_conn_path(c));
  CHECK(str_eq(ws_conn_query(c), "x=1&y=2"), "client conn query \"x=1&y=2\" (got \"%s\")", ws_conn_query(c));
  int cport = parse_peer(ws_conn_peer_address(sc), "127.0.0.1");
  CHECK(cport > 0 && cport != port, "server conn peer address is \"127.0.0.1:<client port>\" (\"%s\")",
        ws_conn_peer_address(sc));
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  CHECK(str_eq(ws_conn_peer_address(c), want), "client conn peer address is \"%s\" (got \"%s\")", want,
        ws_conn_peer_address(c));

  /* user data */
  int cmark = 1, smark = 2;
  CHECK(ws_conn_get_user_data(c) == NULL, "user data is NULL at first");
  CHECK_STATUS(ws_conn_set_user_data(c, &cmark), WS_STATUS_OK, "ws_conn_set_user_data(client)");
  CHECK(ws_conn_get_user_data(c) == &cmark, "ws_conn_get_user_data returns it");
  CHECK_STATUS(ws_conn_set_user_data(sc, &smark), WS_STATUS_OK, "ws_conn_set_user_data(server conn)");

  /* text round trip (the server echoes from on_message) */
  const char *hello = "hello, w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80";
  CHECK_STATUS(ws_conn_send_text(c, hello, strlen(hello)), WS_STATUS_OK, "ws_conn_send_text");
  CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS), "client got the echo");
  CHECK(msg_is(&sr, WS_MESSAGE_TEXT, hello, strlen(hello)), "server on_message got the text, type TEXT");
  CHECK(msg_is(&cr, WS_MESSAGE_TEXT, hello, strlen(hello)), "echoed text is identical");
  CHECK(sr.user_data_seen == &smark, "ws_conn_get_user_data inside on_message returns the server conn's pointer");
  CHECK(cr.user_data_seen == &cmark, "... and the client conn's pointer on the client side");
  CHECK(sr.last_conn == sc, "the server callbacks get the same conn as on_open");

  /* binary: every byte value */
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  CHECK_STATUS(ws_conn_send_binary(c, all, sizeof all), WS_STATUS_OK, "ws_conn_send_binary(0..255)");
  CHECK(rec_wait(&cr, &cr.n_msg, 2, WAIT_MS), "client got the binary echo");
  CHECK(msg_is(&cr, WS_MESSAGE_BINARY, all, sizeof all), "every byte value 0..255 round-trips, type BINARY");

  /* ws_conn_send with both types, empty messages */
  CHECK_STATUS(ws_conn_send(c, WS_MESSAGE_TEXT, (const uint8_t *)"t", 1), WS_STATUS_OK, "ws_conn_send(TEXT)");
  CHECK(rec_wait(&cr, &cr.n_msg, 3, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, "t", 1), "ws_conn_send(TEXT) echoes");
  CHECK_STATUS(ws_conn_send(c, WS_MESSAGE_BINARY, all + 7, 3), WS_STATUS_OK, "ws_conn_send(BINARY)");
  CHECK(rec_wait(&cr, &cr.n_msg, 4, WAIT_MS) && msg_is(&cr, WS_MESSAGE_BINARY, all + 7, 3),
        "ws_conn_send(BINARY) echoes");
  CHECK_STATUS(ws_conn_send_text(c, NULL, 0), WS_STATUS_OK, "empty text message (NULL, 0)");
  CHECK(rec_wait(&cr, &cr.n_msg, 5, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, "", 0), "empty text echoes");
  CHECK_STATUS(ws_conn_send_binary(c, NULL, 0), WS_STATUS_OK, "empty binary message (NULL, 0)");
  CHECK(rec_wait(&cr, &cr.n_msg, 6, WAIT_MS) && msg_is(&cr, WS_MESSAGE_BINARY, "", 0), "empty binary echoes");

  /* a large message: 1 MiB */
  size_t big_len = 1 << 20;
  uint8_t *big = malloc(big_len);
  for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)(i * 7 + (i >> 12));
  /* From this thread it is queued whole: over the default high-water mark (1 MiB). */
  CHECK_STATUS(ws_conn_send_binary(c, big, big_len), WS_STATUS_BACKPRESSURE,
               "send a 1 MiB binary message: queued, over the default high-water mark");
  CHECK(rec_wait(&cr, &cr.n_msg, 7, WAIT_MS) && msg_is(&cr, WS_MESSAGE_BINARY, big, big_len),
        "the 1 MiB message round-trips intact");
  free(big);
  long long end = now_ms() + WAIT_MS;
  while (ws_conn_buffered_amount(c) != 0 && now_ms() < end) sleep_ms(5);
  CHECK(ws_conn_buffered_amount(c) == 0, "ws_conn_buffered_amount drops to 0 once written");
  /* Sent from inside a callback, the I/O thread cannot have taken it yet. */
  CHECK_STATUS(ws_conn_send_text(c, "buffered", 8), WS_STATUS_OK, "send \"buffered\"");
  CHECK(rec_wait(&cr, &cr.n_msg, 8, WAIT_MS), "client got the 1000 bytes sent from the server's callback");
  CHECK(sr.cmd_status == WS_STATUS_OK && sr.buffered_seen >= 1000,
        "ws_conn_buffered_amount inside the callback right after a 1000-byte send >= 1000 (got %zu)",
        sr.buffered_seen);
  end = now_ms() + WAIT_MS;
  while (ws_conn_buffered_amount(sc) != 0 && now_ms() < end) sleep_ms(5);
  CHECK(ws_conn_buffered_amount(sc) == 0, "server conn buffered amount back to 0");

  /* blocking waits are refused on the I/O thread (inside a thread-mode callback) */
  int waits_before = rec_get(&sr, &sr.n_msg);
  long long t0 = now_ms();
  pthread_mutex_lock(&sr.mu);
  sr.server = srv;
  pthread_mutex_unlock(&sr.mu);
  CHECK_STATUS(ws_conn_send_text(c, "wait-here", 9), WS_STATUS_OK, "send \"wait-here\"");
  CHECK(rec_wait(&sr, &sr.n_msg, waits_before + 1, WAIT_MS), "the server ran the \"wait-here\" callback");
  pthread_mutex_lock(&sr.mu);
  sr.server = NULL;
  pthread_mutex_unlock(&sr.mu);
  CHECK(sr.cmd_status == WS_ERR_BAD_STATE, "ws_conn_wait_closed inside a callback -> WS_ERR_BAD_STATE (got %s)",
        ws_status_name(sr.cmd_status));
  CHECK(sr.wait_here_status == WS_ERR_BAD_STATE, "ws_server_wait_closed inside a callback -> WS_ERR_BAD_STATE (got %s)",
        ws_status_name(sr.wait_here_status));
  CHECK(now_ms() - t0 < 1500, "and they did not wait");

  /* ping / pong */
  CHECK_STATUS(ws_conn_ping(c, (const uint8_t *)"ping-payload", 12), WS_STATUS_OK, "ws_conn_ping with payload");
  CHECK(rec_wait(&sr, &sr.n_ping, 1, WAIT_MS), "server on_ping");
  CHECK(rec_wait(&cr, &cr.n_pong, 1, WAIT_MS), "client on_pong (automatic pong)");
  CHECK(sr.ping_len == 12 && memcmp(sr.ping, "ping-payload", 12) == 0, "on_ping payload is the ping's");
  CHECK(cr.pong_len == 12 && memcmp(cr.pong, "ping-payload", 12) == 0, "on_pong payload is the ping's");
  CHECK_STATUS(ws_conn_ping(c, NULL, 0), WS_STATUS_OK, "ws_conn_ping(NULL, 0)");
  CHECK(rec_wait(&sr, &sr.n_ping, 2, WAIT_MS) && rec_wait(&cr, &cr.n_pong, 2, WAIT_MS) && sr.ping_len == 0 &&
            cr.pong_len == 0,
        "empty ping and pong arrive");
  uint8_t p125[126];
  memset(p125, 'p', sizeof p125);
  CHECK_STATUS(ws_conn_ping(c, p125, 125), WS_STATUS_OK, "ping of 125 bytes");
  CHECK(rec_wait(&cr, &cr.n_pong, 3, WAIT_MS) && cr.pong_len == 125, "125-byte pong comes back");
  EXPECT_STATUS(ws_conn_ping(c, p125, 126), WS_ERR_TOO_LARGE, "ping of 126 bytes");
  EXPECT_STATUS(ws_conn_pong(c, p125, 126), WS_ERR_TOO_LARGE, "pong of 126 bytes");
  EXPECT_STATUS(ws_conn_ping(c, NULL, 3), WS_ERR_NULL, "ping(NULL, 3)");
  EXPECT_STATUS(ws_conn_pong(c, NULL, 3), WS_ERR_NULL, "pong(NULL, 3)");
  CHECK_STATUS(ws_conn_pong(c, (const uint8_t *)"beat", 4), WS_STATUS_OK, "unsolicited ws_conn_pong");
  CHECK(rec_wait(&sr, &sr.n_pong, 1, WAIT_MS) && sr.pong_len == 4 && memcmp(sr.pong, "beat", 4) == 0,
        "server on_pong gets the unsolicited pong");
  CHECK_STATUS(ws_conn_ping(sc, (const uint8_t *)"sp", 2), WS_STATUS_OK, "server conn pings the client");
  CHECK(rec_wait(&cr, &cr.n_ping, 1, WAIT_MS) && cr.ping_len == 2 && memcmp(cr.ping, "sp", 2) == 0,
        "client on_ping");
  CHECK(rec_wait(&sr, &sr.n_pong, 2, WAIT_MS) && sr.pong_len == 2 && memcmp(sr.pong, "sp", 2) == 0,
        "server on_pong");

  /* send errors */
  EXPECT_STATUS(ws_conn_send(c, WS_MESSAGE_TEXT, NULL, 3), WS_ERR_NULL, "ws_conn_send(data NULL, len 3)");
  EXPECT_STATUS(ws_conn_send_text(c, NULL, 3), WS_ERR_NULL, "ws_conn_send_text(NULL, 3)");
  EXPECT_STATUS(ws_conn_send_binary(c, NULL, 3), WS_ERR_NULL, "ws_conn_send_binary(NULL, 3)");
  EXPECT_STATUS(ws_conn_send(c, 0, all, 3), WS_ERR_INVALID_ARGUMENT, "ws_conn_send(type 0)");
  EXPECT_STATUS(ws_conn_send(c, 3, all, 3), WS_ERR_INVALID_ARGUMENT, "ws_conn_send(type 3)");
  EXPECT_STATUS(ws_conn_send(c, -1, all, 3), WS_ERR_INVALID_ARGUMENT, "ws_conn_send(type -1)");
  static const char *bad_utf8[] = {"\xff", "a\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"};
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "send_text with invalid UTF-8 #%zu", i);
    EXPECT_STATUS(ws_conn_send_text(c, bad_utf8[i], strlen(bad_utf8[i])), WS_ERR_INVALID_UTF8, what);
  }
  EXPECT_STATUS(ws_conn_send(c, WS_MESSAGE_TEXT, (const uint8_t *)"\xfe\xff", 2), WS_ERR_INVALID_UTF8,
                "ws_conn_send(TEXT, invalid UTF-8)");
  CHECK_STATUS(ws_conn_send_binary(c, (const uint8_t *)"\xfe\xff", 2), WS_STATUS_OK,
               "the same bytes as binary are fine");
  CHECK(rec_wait(&cr, &cr.n_msg, 9, WAIT_MS), "and echo");

  /* close errors, the connection stays open */
  static const int bad_codes[] = {1005, 1006, 1015, 999, 5000, 1004, 1012, 1016, 2999, 1, 65535};
  for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "ws_conn_close(code %d)", bad_codes[i]);
    EXPECT_STATUS(ws_conn_close(c, (uint16_t)bad_codes[i], "x"), WS_ERR_INVALID_CLOSE_CODE, what);
  }
  char r124[125], r123[124];
  memset(r124, 'r', 124);
  r124[124] = 0;
  memset(r123, 'q', 123);
  r123[123] = 0;
  EXPECT_STATUS(ws_conn_close(c, 1000, r124), WS_ERR_TOO_LARGE, "ws_conn_close with a 124-byte reason");
  EXPECT_STATUS(ws_conn_close(c, 1000, "\xff\xfe"), WS_ERR_INVALID_UTF8, "ws_conn_close with a non-UTF-8 reason");
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_conn_close(c, 0, "why") < 0, "ws_conn_close(code 0) with a reason is refused (%s)",
        ws_status_name(ws_last_error_code()));
  CHECK(ws_conn_state(c) == WS_STATE_OPEN && ws_conn_state(sc) == WS_STATE_OPEN,
        "both ends still OPEN after the refused calls");

  /* server-initiated close from inside on_message: 4000 "bye" */
  CHECK_STATUS(ws_conn_send_text(c, "close-me", 8), WS_STATUS_OK, "ask the server to close");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS), "client on_close");
  CHECK(cr.close_code == 4000 && str_eq(cr.close_reason, "bye"),
        "client on_close gets the server's code 4000 and reason \"bye\" (got %d \"%s\")", cr.close_code,
        cr.close_reason);
  CHECK(sr.cmd_status == WS_STATUS_OK, "ws_conn_close from inside on_message -> OK");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "server on_close");
  CHECK(sr.close_code == 4000, "server on_close gets the echoed code 4000 (got %d)", sr.close_code);
  CHECK(cr.n_error == 0 && sr.n_error == 0, "no on_error in a clean close (client %d \"%s\", server %d \"%s\")",
        cr.n_error, cr.err_msg, sr.n_error, sr.err_msg);
  CHECK_STATUS(ws_conn_wait_closed(c, -1), WS_STATUS_OK, "ws_conn_wait_closed(-1: no limit)");
  CHECK(ws_conn_state(c) == WS_STATE_CLOSED, "client state CLOSED");
  CHECK(ws_conn_close_code(c) == 4000, "client ws_conn_close_code == 4000 (got %d)", ws_conn_close_code(c));
  CHECK(wait_state(sc, WS_STATE_CLOSED, WAIT_MS), "server conn (retained) state CLOSED");
  CHECK(ws_conn_close_code(sc) == 4000, "server ws_conn_close_code == 4000 (got %d)", ws_conn_close_code(sc));
  CHECK(wait_count(srv, 0, WAIT_MS), "connection count back to 0");

  /* a closed connection refuses everything */
  EXPECT_STATUS(ws_conn_send_text(c, "x", 1), WS_ERR_NOT_OPEN, "send_text on a closed conn");
  EXPECT_STATUS(ws_conn_send_binary(c, all, 1), WS_ERR_NOT_OPEN, "send_binary on a closed conn");
  EXPECT_STATUS(ws_conn_ping(c, NULL, 0), WS_ERR_NOT_OPEN, "ping on a closed conn");
  EXPECT_STATUS(ws_conn_pong(c, NULL, 0), WS_ERR_NOT_OPEN, "pong on a closed conn");
  EXPECT_STATUS(ws_conn_close(c, 1000, NULL), WS_ERR_NOT_OPEN, "close on a closed conn");
  EXPECT_STATUS(ws_conn_send_text(sc, "x", 1), WS_ERR_NOT_OPEN, "send on the retained closed server conn");
  EXPECT_STATUS(ws_conn_ping(sc, NULL, 0), WS_ERR_NOT_OPEN, "ping on the retained closed server conn");
  EXPECT_STATUS(ws_conn_close(sc, 1000, NULL), WS_ERR_NOT_OPEN, "close on the retained closed server conn");
  CHECK(str_eq(ws_conn_path(sc), "/chat/room") && ws_conn_get_user_data(sc) == &smark,
        "a retained closed conn keeps its path and user data");
  CHECK_STATUS(ws_conn_wait_closed(sc, 0), WS_STATUS_OK, "wait_closed on a closed conn returns at once");

  /* retained client handle outlives ws_client_free */
  ws_conn *kept = ws_conn_retain(c);
  CHECK(kept == c, "ws_conn_retain returns its argument");
  int before = rec_get(&cr, &cr.n_total);
  ws_client_free(cl);
  cl = NULL;
  CHECK(ws_conn_state(kept) == WS_STATE_CLOSED && ws_conn_close_code(kept) == 4000,
        "the retained handle is usable after ws_client_free");
  EXPECT_STATUS(ws_conn_send_text(kept, "x", 1), WS_ERR_NOT_OPEN, "send on it -> NOT_OPEN");
  ws_conn_release(kept);
  CHECK(rec_get(&cr, &cr.n_total) == before, "no client callback after ws_client_free");

out:
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ close variants */

/* Connects a client to srv; waits for both on_opens. */
static ws_client *open_pair(ws_server *srv, rec *sr, rec *cr, const char *path, int nth_server_open) {
  ws_client *cl = connect_to(ws_server_port(srv), path, cr, NULL);
  if (!cl) return NULL;
  if (ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) != WS_STATUS_OK || !rec_wait(cr, &cr->n_open, 1, WAIT_MS) ||
      !rec_wait(sr, &sr->n_open, nth_server_open, WAIT_MS)) {
    note("open_pair failed: %s", last_msg());
  }
  return cl;
}

static void test_close_variants(void) {
  note("close handshakes: client-initiated, code 0, 123-byte reason, ws_client_free, server stop");
  rec sr;
  rec_init(&sr, "server");
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server *srv = listen_on("127.0.0.1", &sr, NULL);
  CHECK(srv != NULL, "server listens");
  if (!srv) return;

  /* client-initiated with code + reason */
  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = open_pair(srv, &sr, &cr, "/a", 1);
  ws_conn *c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_close(c, 3001, "client bye"), WS_STATUS_OK, "client ws_conn_close(3001, \"client bye\")");
  int st = ws_conn_state(c);
  CHECK(st == WS_STATE_CLOSING || st == WS_STATE_CLOSED, "state CLOSING right after close (got %d)", st);
  EXPECT_STATUS(ws_conn_close(c, 1000, NULL), WS_ERR_NOT_OPEN, "a second close -> NOT_OPEN");
  EXPECT_STATUS(ws_conn_send_text(c, "x", 1), WS_ERR_NOT_OPEN, "send while closing -> NOT_OPEN");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == 3001 && str_eq(sr.close_reason, "client bye"),
        "server on_close gets 3001 \"client bye\" (got %d \"%s\")", sr.close_code, sr.close_reason);
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == 3001,
        "client on_close gets the echoed 3001 (got %d)", cr.close_code);
  CHECK_STATUS(ws_conn_wait_closed(c, WAIT_MS), WS_STATUS_OK, "wait_closed");
  CHECK(ws_conn_close_code(c) == 3001, "client close code 3001");
  CHECK(cr.n_error == 0 && sr.n_error == 0, "no on_error");
  ws_client_free(cl);
  rec_destroy(&cr);

  /* code 0: a close frame without a status; the peer reports 1005 */
  rec_init(&cr, "client");
  cl = open_pair(srv, &sr, &cr, "/b", 2);
  c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_close(c, 0, NULL), WS_STATUS_OK, "ws_conn_close(code 0, NULL)");
  CHECK(rec_wait(&sr, &sr.n_close, 2, WAIT_MS) && sr.close_code == WS_NO_STATUS,
        "server on_close gets 1005 for a close without code (got %d)", sr.close_code);
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_NO_STATUS,
        "client on_close gets 1005 too (got %d)", cr.close_code);
  ws_client_free(cl);
  rec_destroy(&cr);

  /* server-initiated code 0 (from a callback) */
  rec_init(&cr, "client");
  cl = open_pair(srv, &sr, &cr, "/c", 3);
  c = ws_client_conn(cl);
  ws_conn_send_text(c, "close-nocode", 12);
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_NO_STATUS && str_eq(cr.close_reason, ""),
        "server closes with code 0 -> client on_close 1005 \"\" (got %d \"%s\")", cr.close_code, cr.close_reason);
  ws_client_free(cl);
  rec_destroy(&cr);

  /* 123-byte reason, valid codes at the edges */
  rec_init(&cr, "client");
  cl = open_pair(srv, &sr, &cr, "/d", 4);
  c = ws_client_conn(cl);
  char r123[124];
  for (int i = 0; i < 123; i++) r123[i] = (char)('a' + i % 26);
  r123[123] = 0;
  CHECK_STATUS(ws_conn_close(c, 4999, r123), WS_STATUS_OK, "ws_conn_close(4999, 123-byte reason)");
  CHECK(rec_wait(&sr, &sr.n_close, 4, WAIT_MS) && sr.close_code == 4999 && str_eq(sr.close_reason, r123),
        "server on_close gets 4999 and the 123-byte reason");
  ws_client_free(cl);
  rec_destroy(&cr);

  /* ws_client_free on an open connection: the server sees 1001; no client callback after */
  rec_init(&cr, "client");
  cl = open_pair(srv, &sr, &cr, "/e", 5);
  ws_conn *kept = ws_conn_retain(ws_client_conn(cl));
  int before = rec_get(&cr, &cr.n_total);
  ws_client_free(cl);
  CHECK(rec_wait(&sr, &sr.n_close, 5, WAIT_MS) && sr.close_code == WS_GONE,
        "ws_client_free closes with 1001 (server on_close got %d)", sr.close_code);
  CHECK_STATUS(ws_conn_wait_closed(kept, WAIT_MS), WS_STATUS_OK, "the retained conn of the freed client closes");
  CHECK(ws_conn_state(kept) == WS_STATE_CLOSED, "retained handle: state CLOSED");
  CHECK(ws_conn_close_code(kept) == WS_GONE, "retained handle: close code 1001 (got %d)", ws_conn_close_code(kept));
  EXPECT_STATUS(ws_conn_send_binary(kept, (const uint8_t *)"x", 1), WS_ERR_NOT_OPEN, "retained handle: send");
  EXPECT_STATUS(ws_conn_ping(kept, NULL, 0), WS_ERR_NOT_OPEN, "retained handle: ping");
  EXPECT_STATUS(ws_conn_close(kept, 1000, "x"), WS_ERR_NOT_OPEN, "retained handle: close");
  sleep_ms(100);
  CHECK(rec_get(&cr, &cr.n_total) == before, "no client callback after ws_client_free (%d -> %d)", before,
        rec_get(&cr, &cr.n_total));
  ws_conn_release(kept);
  rec_destroy(&cr);

  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ connect failures */

typedef struct {
  int fd;
  int reply; /* 1: answer 403 */
  char request[4096];
  pthread_mutex_t mu;
  int done;
} raw_server;

static void *raw_server_main(void *arg) {
  raw_server *rs = arg;
  int fd = accept(rs->fd, NULL, NULL);
  if (fd >= 0) {
    set_timeouts(fd, WAIT_MS);
    char buf[4096];
    raw_read_until(fd, buf, sizeof buf, "\r\n\r\n");
    pthread_mutex_lock(&rs->mu);
    snprintf(rs->request, sizeof rs->request, "%s", buf);
    pthread_mutex_unlock(&rs->mu);
    raw_send_str(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    close(fd);
  }
  return NULL;
}

static void test_connect_failures(void) {
  note("connect failures: refused port, non-101 answer, connect timeout");
  /* refused */
  int port = free_port();
  CHECK(port > 0, "found a port where nothing listens (%d)", port);
  rec cr;
  rec_init(&cr, "refused");
  ws_client *cl = connect_to(port, "/", &cr, NULL);
  CHECK(cl != NULL, "ws_client_connect returns at once for a refused port");
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    EXPECT_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_ERR_CONNECT, "ws_conn_wait_open on a refused port");
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS), "on_close is delivered");
    CHECK(cr.n_error == 1 && cr.err_status == WS_ERR_CONNECT && cr.err_msg[0],
          "on_error(WS_ERR_CONNECT, \"%s\")", cr.err_msg);
    CHECK(cr.error_before_close, "on_error comes before on_close");
    CHECK(cr.close_code == WS_CLOSED_ABNORMALLY && str_eq(cr.close_reason, ""),
          "on_close(1006, \"\") (got %d \"%s\")", cr.close_code, cr.close_reason);
    CHECK(cr.n_open == 0 && cr.n_close == 1, "no on_open, exactly one on_close");
    CHECK(ws_conn_state(c) == WS_STATE_CLOSED, "state CLOSED");
    CHECK(ws_conn_close_code(c) == WS_CLOSED_ABNORMALLY, "ws_conn_close_code == 1006");
    CHECK(str_eq(ws_conn_peer_address(c), ""), "peer address \"\" (no TCP connection) (got \"%s\")",
          ws_conn_peer_address(c));
    EXPECT_STATUS(ws_conn_send_text(c, "x", 1), WS_ERR_NOT_OPEN, "send on the failed conn");
    EXPECT_STATUS(ws_conn_close(c, 1000, NULL), WS_ERR_NOT_OPEN, "close on the failed conn");
    CHECK_STATUS(ws_conn_wait_closed(c, WAIT_MS), WS_STATUS_OK, "wait_closed on the failed conn");
    ws_client_free(cl);
  }
  rec_destroy(&cr);

  /* a server answering 403: WS_ERR_HANDSHAKE; the extra headers were sent */
  raw_server rs;
  memset(&rs, 0, sizeof rs);
  pthread_mutex_init(&rs.mu, NULL);
  int rport;
  rs.fd = raw_listen(&rport, 0);
  CHECK(rs.fd >= 0, "raw listener");
  pthread_t t;
  pthread_create(&t, NULL, raw_server_main, &rs);
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_add_header(cfg, "Authorization", "Bearer x");
  ws_client_config_add_header(cfg, "X-Test-Header", "v1");
  rec_init(&cr, "403");
  cl = connect_to(rport, "/hs?q=1", &cr, cfg);
  ws_client_config_free(cfg); /* copied by ws_client_connect */
  if (cl) {
    EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_HANDSHAKE, "wait_open against a 403 answer");
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_CLOSED_ABNORMALLY,
          "on_close(1006) after a failed handshake");
    CHECK(cr.err_status == WS_ERR_HANDSHAKE, "on_error(WS_ERR_HANDSHAKE, \"%s\")", cr.err_msg);
    ws_client_free(cl);
  }
  pthread_join(t, NULL);
  CHECK(strncmp(rs.request, "GET /hs?q=1 HTTP/1.1\r\n", 22) == 0, "request line is \"GET /hs?q=1 HTTP/1.1\"");
  CHECK(strstr(rs.request, "\r\nAuthorization: Bearer x\r\n") != NULL, "the request carries Authorization: Bearer x");
  CHECK(strstr(rs.request, "\r\nX-Test-Header: v1\r\n") != NULL, "the request carries X-Test-Header: v1");
  CHECK(strstr(rs.request, "\r\nSec-WebSocket-Version: 13\r\n") != NULL, "the request has Sec-WebSocket-Version: 13");
  close(rs.fd);
  pthread_mutex_destroy(&rs.mu);
  rec_destroy(&cr);

  /* a listener that never answers: connect timeout */
  int sfd = raw_listen(&rport, 0);
  cfg = ws_client_config_new();
  ws_client_config_set_handshake_timeout_ms(cfg, 1000);
  rec_init(&cr, "silent");
  cl = connect_to(rport, "/", &cr, cfg);
  ws_client_config_free(cfg);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    EXPECT_STATUS(ws_conn_wait_open(c, 50), WS_ERR_TIMEOUT, "wait_open(50 ms) on a silent server");
    CHECK(ws_conn_state(c) == WS_STATE_CONNECTING, "state CONNECTING meanwhile");
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", rport);
    CHECK(str_eq(ws_conn_peer_address(c), want), "peer address \"%s\" once TCP is connected (got \"%s\")", want,
          ws_conn_peer_address(c));
    EXPECT_STATUS(ws_conn_wait_closed(c, 20), WS_ERR_TIMEOUT, "wait_closed(20 ms) while connecting");
    EXPECT_STATUS(ws_conn_send_text(c, "x", 1), WS_ERR_NOT_OPEN, "send while CONNECTING");
    EXPECT_STATUS(ws_conn_ping(c, NULL, 0), WS_ERR_NOT_OPEN, "ping while CONNECTING");
    long long t0 = now_ms();
    EXPECT_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_ERR_TIMEOUT, "wait_open until the 1000 ms connect timeout");
    CHECK(now_ms() - t0 < WAIT_MS - 500, "the connect timeout fired (not our wait's)");
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_CLOSED_ABNORMALLY &&
              cr.err_status == WS_ERR_TIMEOUT,
          "on_error(WS_ERR_TIMEOUT) + on_close(1006) (got %s, %d)", ws_status_name(cr.err_status), cr.close_code);
    ws_client_free(cl);
  }
  close(sfd);
  rec_destroy(&cr);

  /* closing while still connecting (default 10 s connect timeout, 1 s close timeout) */
  sfd = raw_listen(&rport, 0);
  rec_init(&cr, "close-connecting");
  cfg = ws_client_config_new();
  ws_client_config_set_close_timeout_ms(cfg, 1000);
  cl = connect_to(rport, "/", &cr, cfg);
  ws_client_config_free(cfg);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    EXPECT_STATUS(ws_conn_wait_open(c, 100), WS_ERR_TIMEOUT, "still CONNECTING after 100 ms (silent server)");
    CHECK_STATUS(ws_conn_close(c, 1000, NULL), WS_STATUS_OK, "ws_conn_close while CONNECTING");
    long long t0 = now_ms();
    int closed = rec_wait(&cr, &cr.n_close, 1, WAIT_MS);
    long long took = now_ms() - t0;
    CHECK(closed, "on_close follows within 5 s, not only when the 10 s connect timeout ends (waited %lld ms)", took);
    CHECK(cr.n_open == 0, "no on_open");
    CHECK(wait_state(c, WS_STATE_CLOSED, WAIT_MS), "state CLOSED");
    ws_client_free(cl);
  }
  close(sfd);
  rec_destroy(&cr);

  /* NULL config and NULL callbacks */
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  CHECK(srv != NULL, "ws_server_listen with NULL config and NULL callbacks");
  {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", srv ? ws_server_port(srv) : 1);
    ws_client *c2 = ws_client_connect(url, NULL, NULL, NULL);
    CHECK(c2 != NULL, "ws_client_connect(url without path, NULL config, NULL callbacks)");
    if (c2) {
      ws_conn *c = ws_client_conn(c2);
      CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "it opens");
      CHECK(str_eq(ws_conn_path(c), "/") && str_eq(ws_conn_query(c), ""), "path \"/\" and query \"\" by default");
      CHECK(ws_server_connection_count(srv) == 1, "the callback-less server counts it");
      CHECK_STATUS(ws_conn_close(c, 1000, "done"), WS_STATUS_OK, "close");
      CHECK_STATUS(ws_conn_wait_closed(c, WAIT_MS), WS_STATUS_OK, "a callback-less server answers the close");
      CHECK(ws_conn_close_code(c) == 1000, "close code 1000 (got %d)", ws_conn_close_code(c));
      ws_client_free(c2);
    }
  }
  ws_server_free(srv);
}

/* ------------------------------------------------------------ listen */

static ws_server *listen_reusing(int port) {
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_reuse_port(cfg, 1), WS_STATUS_OK, "set_reuse_port(1)");
  ws_server *s = ws_server_listen("127.0.0.1", (uint16_t)port, cfg, NULL, NULL);
  ws_server_config_free(cfg);
  return s;
}

static uint64_t accepted(ws_server *s) {
  ws_server_stats st;
  memset(&st, 0, sizeof st);
  st.size = sizeof st;
  return ws_server_get_stats(s, &st) == WS_STATUS_OK ? st.connections_accepted : 0;
}

static void test_reuse_port(void) {
  note("set_reuse_port: two servers on one port share its connections");
  EXPECT_STATUS(ws_server_config_set_reuse_port(NULL, 1), WS_ERR_NULL, "set_reuse_port(NULL)");
  ws_server *a = listen_reusing(0);
  CHECK(a != NULL, "the first server listens (%s)", a ? "ok" : last_msg());
  if (!a) return;
  int port = ws_server_port(a);
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", (uint16_t)port, NULL, NULL, NULL), WS_ERR_IO,
                  "a server without reuse_port cannot take the port");
  ws_server *b = listen_reusing(port);
  CHECK(b != NULL && ws_server_port(b) == port, "a second server with reuse_port listens on it too (%s)",
        b ? "ok" : last_msg());
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  int opened = 0;
  for (int i = 0; i < 40 && b; i++) {
    ws_client *c = ws_client_connect(url, NULL, NULL, NULL);
    if (c && ws_conn_wait_open(ws_client_conn(c), WAIT_MS) == WS_STATUS_OK) opened++;
    ws_client_free(c);
  }
  CHECK(opened == 40, "40 clients connect (%d)", opened);
  if (b) {
    uint64_t na = accepted(a), nb = accepted(b);
    CHECK(na > 0 && nb > 0 && na + nb == 40, "the kernel spread them over both servers (%llu and %llu)",
          (unsigned long long)na, (unsigned long long)nb);
  }
  ws_server_free(b);
  ws_server_free(a);
}

static void test_listen(void) {
  note("listen: port in use, IPv6, bad host");
  ws_server *a = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  CHECK(a != NULL, "listen on 127.0.0.1:0");
  if (!a) return;
  int port = ws_server_port(a);
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", (uint16_t)port, NULL, NULL, NULL), WS_ERR_IO,
                  "listen on a port already in use");
  note("  message: %s", last_msg());
  int rport;
  int fd = raw_listen(&rport, 0);
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", (uint16_t)rport, NULL, NULL, NULL), WS_ERR_IO,
                  "listen on a port a raw socket holds");
  close(fd);
  poison_last_error(WS_ERR_NULL);
  ws_server *bad = ws_server_listen("\xff\xfe", 0, NULL, NULL, NULL);
  CHECK(bad == NULL && ws_last_error_code() < 0 && ws_last_error_code() != WS_ERR_NULL,
        "listen on a non-UTF-8 host fails (%s)", ws_status_name(ws_last_error_code()));
  ws_server_free(bad);
  ws_server_free(a);

  /* the port is free again after ws_server_free */
  ws_server *again = NULL;
  long long end = now_ms() + WAIT_MS;
  while (!again && now_ms() < end) {
    again = ws_server_listen("127.0.0.1", (uint16_t)port, NULL, NULL, NULL);
    if (!again) sleep_ms(20);
  }
  CHECK(again != NULL, "the port can be listened on again after ws_server_free (%s)", again ? "ok" : last_msg());
  ws_server_free(again);

  /* IPv6 */
  int v6port;
  int v6fd = raw_listen(&v6port, 1);
  if (v6fd < 0) {
    note("SKIP IPv6: cannot bind ::1 on this machine");
    return;
  }
  close(v6fd);
  rec sr, cr;
  rec_init(&sr, "v6-server");
  rec_init(&cr, "v6-client");
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server *s6 = ws_server_listen("::1", 0, NULL, &CB, &sr);
  CHECK(s6 != NULL && ws_server_port(s6) > 0, "listen on ::1 port 0 (%s)", s6 ? "ok" : last_msg());
  if (s6) {
    int p6 = ws_server_port(s6);
    char url[64];
    snprintf(url, sizeof url, "ws://[::1]:%d/six?v=6", p6);
    ws_client *cl = ws_client_connect(url, NULL, &CB, &cr);
    CHECK(cl != NULL, "connect to %s", url);
    if (cl) {
      ws_conn *c = ws_client_conn(cl);
      CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "IPv6 connection opens");
      char want[64];
      snprintf(want, sizeof want, "[::1]:%d", p6);
      CHECK(str_eq(ws_conn_peer_address(c), want), "client peer address \"%s\" (got \"%s\")", want,
            ws_conn_peer_address(c));
      CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1, "server on_open");
      if (sr.n_conns) {
        CHECK(parse_peer(ws_conn_peer_address(sr.conns[0]), "[::1]") > 0, "server peer address \"[::1]:port\" (\"%s\")",
              ws_conn_peer_address(sr.conns[0]));
        CHECK(str_eq(ws_conn_path(sr.conns[0]), "/six") && str_eq(ws_conn_query(sr.conns[0]), "v=6"),
              "path and query over IPv6");
      }
      ws_conn_send_text(c, "six", 3);
      CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, "six", 3), "echo over IPv6");
      ws_client_free(cl);
    }
    ws_server_free(s6);
  }
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ server: list, broadcast, stop */

static void test_server_connections(void) {
  note("server: connection_count, connections, broadcast, stop");
  rec sr;
  rec_init(&sr, "server");
  sr.retain_open = 1;
  ws_server *srv = listen_on("127.0.0.1", &sr, NULL);
  CHECK(srv != NULL, "server listens");
  if (!srv) return;
  pthread_mutex_lock(&sr.mu);
  sr.server = srv; /* for the "broadcast" command */
  pthread_mutex_unlock(&sr.mu);
  enum { N = 3 };
  rec cr[N];
  ws_client *cl[N];
  for (int i = 0; i < N; i++) {
    rec_init(&cr[i], "client");
    cl[i] = connect_to(ws_server_port(srv), "/b", &cr[i], NULL);
  }
  for (int i = 0; i < N; i++)
    CHECK(cl[i] && ws_conn_wait_open(ws_client_conn(cl[i]), WAIT_MS) == WS_STATUS_OK, "client %d opens", i);
  CHECK(rec_wait(&sr, &sr.n_open, N, WAIT_MS), "server saw %d on_open", N);
  CHECK(wait_count(srv, N, WAIT_MS), "ws_server_connection_count == %d (got %zu)", N, ws_server_connection_count(srv));

  CHECK_STATUS(ws_server_connections(srv, NULL, 0), N, "ws_server_connections(srv, NULL, 0) returns the count");
  ws_conn *probe = (ws_conn *)&sr;
  CHECK_STATUS(ws_server_connections(srv, &probe, 0), N, "capacity 0 with an array");
  CHECK(probe == (ws_conn *)&sr, "capacity 0 writes nothing");
  EXPECT_STATUS(ws_server_connections(srv, NULL, 2), WS_ERR_NULL, "ws_server_connections(out NULL, capacity 2)");
  ws_conn *two[3] = {NULL, NULL, (ws_conn *)&sr};
  CHECK_STATUS(ws_server_connections(srv, two, 2), N, "capacity 2 returns the full count");
  CHECK(two[0] && two[1] && two[0] != two[1] && two[2] == (ws_conn *)&sr, "writes 2 distinct handles, no more");
  for (int i = 0; i < 2; i++) {
    int known = 0;
    for (int k = 0; k < sr.n_conns; k++) known |= sr.conns[k] == two[i];
    CHECK(known && ws_conn_state(two[i]) == WS_STATE_OPEN && str_eq(ws_conn_path(two[i]), "/b"),
          "handle %d is one of the open server conns", i);
    ws_conn_release(two[i]);
  }
  ws_conn *many[8];
  for (int i = 0; i < 8; i++) many[i] = (ws_conn *)&sr;
  CHECK_STATUS(ws_server_connections(srv, many, 8), N, "capacity 8");
  int written = 0;
  for (int i = 0; i < 8; i++) written += many[i] != (ws_conn *)&sr;
  CHECK(written == N, "writes exactly %d handles (wrote %d)", N, written);
  for (int i = 0; i < N; i++) ws_conn_release(many[i]);

  /* broadcast */
  CHECK_STATUS(ws_server_broadcast(srv, WS_MESSAGE_TEXT, (const uint8_t *)"news", 4), N, "broadcast text");
  for (int i = 0; i < N; i++)
    CHECK(rec_wait(&cr[i], &cr[i].n_msg, 1, WAIT_MS) && msg_is(&cr[i], WS_MESSAGE_TEXT, "news", 4),
          "client %d got the broadcast text", i);
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  CHECK_STATUS(ws_server_broadcast(srv, WS_MESSAGE_BINARY, all, sizeof all), N, "broadcast binary");
  for (int i = 0; i < N; i++)
    CHECK(rec_wait(&cr[i], &cr[i].n_msg, 2, WAIT_MS) && msg_is(&cr[i], WS_MESSAGE_BINARY, all, 256),
          "client %d got the broadcast binary", i);
  CHECK_STATUS(ws_server_broadcast(srv, WS_MESSAGE_TEXT, NULL, 0), N, "broadcast an empty text");
  for (int i = 0; i < N; i++)
    CHECK(rec_wait(&cr[i], &cr[i].n_msg, 3, WAIT_MS) && msg_is(&cr[i], WS_MESSAGE_TEXT, "", 0),
          "client %d got the empty broadcast", i);
  EXPECT_STATUS(ws_server_broadcast(srv, WS_MESSAGE_TEXT, (const uint8_t *)"\xc3\x28", 2), WS_ERR_INVALID_UTF8,
                "broadcast invalid UTF-8 text");
  EXPECT_STATUS(ws_server_broadcast(srv, 9, all, 2), WS_ERR_INVALID_ARGUMENT, "broadcast an unknown type");
  EXPECT_STATUS(ws_server_broadcast(srv, 0, all, 2), WS_ERR_INVALID_ARGUMENT, "broadcast type 0");
  EXPECT_STATUS(ws_server_broadcast(srv, WS_MESSAGE_BINARY, NULL, 2), WS_ERR_NULL, "broadcast(data NULL, len 2)");
  /* broadcast from inside a callback */
  ws_conn_send_text(ws_client_conn(cl[0]), "broadcast", 9);
  for (int i = 0; i < N; i++)
    CHECK(rec_wait(&cr[i], &cr[i].n_msg, 4, WAIT_MS) && msg_is(&cr[i], WS_MESSAGE_TEXT, "all", 3),
          "client %d got the broadcast made inside on_message", i);
  CHECK(sr.cmd_status == N, "ws_server_broadcast inside a callback returned %d (got %d)", N, sr.cmd_status);

  /* one client closes: the count drops, broadcast skips it */
  ws_conn_close(ws_client_conn(cl[2]), 1000, NULL);
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "server on_close for client 2");
  CHECK(wait_count(srv, N - 1, WAIT_MS), "connection count drops to %d", N - 1);
  CHECK_STATUS(ws_server_connections(srv, NULL, 0), N - 1, "ws_server_connections agrees");
  CHECK_STATUS(ws_server_broadcast(srv, WS_MESSAGE_TEXT, (const uint8_t *)"two", 3), N - 1,
               "broadcast reaches the 2 open ones");

  /* stop: every client sees 1001 */
  EXPECT_STATUS(ws_server_wait_closed(srv, 50), WS_ERR_TIMEOUT, "ws_server_wait_closed times out while 2 are open");
  CHECK_STATUS(ws_server_stop(srv), WS_STATUS_OK, "ws_server_stop");
  CHECK_STATUS(ws_server_wait_closed(srv, WAIT_MS), WS_STATUS_OK, "ws_server_wait_closed after stop");
  CHECK(ws_server_connection_count(srv) == 0, "no connection open once ws_server_wait_closed returned");
  for (int i = 0; i < N - 1; i++) {
    CHECK(rec_wait(&cr[i], &cr[i].n_close, 1, WAIT_MS) && cr[i].close_code == WS_GONE,
          "client %d on_close(1001) after stop (got %d \"%s\")", i, cr[i].close_code, cr[i].close_reason);
  }
  CHECK(rec_wait(&sr, &sr.n_close, N, WAIT_MS), "server callbacks keep running after stop: %d on_close", N);
  CHECK(wait_count(srv, 0, WAIT_MS), "connection count 0 after stop");
  CHECK_STATUS(ws_server_stop(srv), WS_STATUS_OK, "ws_server_stop again");
  CHECK(ws_server_port(srv) > 0, "ws_server_port still answers after stop");
  CHECK_STATUS(ws_server_broadcast(srv, WS_MESSAGE_TEXT, (const uint8_t *)"x", 1), 0, "broadcast after stop reaches 0");
  rec late;
  rec_init(&late, "late");
  ws_client *lc = connect_to(ws_server_port(srv), "/", &late, NULL);
  int lst = lc ? ws_conn_wait_open(ws_client_conn(lc), WAIT_MS) : 0;
  CHECK(lc && lst != WS_STATUS_OK, "a client cannot open after stop (%s)", ws_status_name(lst));
  CHECK(late.n_open == 0, "no on_open for it");
  ws_client_free(lc);
  rec_destroy(&late);

  for (int i = 0; i < N; i++) ws_client_free(cl[i]);
  ws_server_free(srv);
  for (int i = 0; i < N; i++) rec_destroy(&cr[i]);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ frees from callbacks */

static void test_free_in_callbacks(void) {
  note("ws_server_free / ws_client_free from inside callbacks; ws_server_free waits for a running callback");
  /* ws_server_free inside the server's own on_message */
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  ws_server *srv = listen_on("127.0.0.1", &sr, NULL);
  CHECK(srv != NULL, "server listens");
  if (!srv) return;
  pthread_mutex_lock(&sr.mu);
  sr.server = srv;
  pthread_mutex_unlock(&sr.mu);
  ws_client *cl = open_pair(srv, &sr, &cr, "/", 1);
  ws_conn_send_text(ws_client_conn(cl), "free-server", 11);
  CHECK(rec_wait(&sr, &sr.freed_in_callback, 1, WAIT_MS), "ws_server_free inside on_message returned (no deadlock)");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_GONE,
        "the client sees the server go away with 1001 (got %d)", cr.close_code);
  sleep_ms(100);
  CHECK(rec_get(&sr, &sr.n_close) == 0 && rec_get(&sr, &sr.n_msg) == 1,
        "no server callback after ws_server_free (on_close count %d)", rec_get(&sr, &sr.n_close));
  ws_client_free(cl);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* ws_client_free inside the client's own on_message */
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;
  srv = listen_on("127.0.0.1", &sr, NULL);
  cl = open_pair(srv, &sr, &cr, "/", 1);
  pthread_mutex_lock(&cr.mu);
  cr.client = cl;
  pthread_mutex_unlock(&cr.mu);
  ws_conn_send_text(ws_client_conn(cl), "free-client", 11); /* echoed back */
  CHECK(rec_wait(&cr, &cr.freed_in_callback, 1, WAIT_MS), "ws_client_free inside on_message returned");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == WS_GONE,
        "the server sees 1001 from the freed client (got %d)", sr.close_code);
  sleep_ms(100);
  CHECK(rec_get(&cr, &cr.n_close) == 0, "no client callback after ws_client_free");
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* ws_server_free from the main thread waits for a running callback */
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  srv = listen_on("127.0.0.1", &sr, NULL);
  cl = open_pair(srv, &sr, &cr, "/", 1);
  ws_conn_send_text(ws_client_conn(cl), "slow", 4);
  CHECK(rec_wait(&sr, &sr.slow_started, 1, WAIT_MS), "a 500 ms callback is running");
  ws_server_free(srv);
  CHECK(rec_get(&sr, &sr.slow_done) == 1, "ws_server_free returned only after the running callback ended");
  int total = rec_get(&sr, &sr.n_total);
  sleep_ms(100);
  CHECK(rec_get(&sr, &sr.n_total) == total, "and no callback ran after it");
  ws_client_free(cl);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ raw HTTP against the server */

/* The server of test_raw_handshakes allows one connection, and frees a
 * connection's place once it has seen the test close its socket, a moment
 * after close() returns (on another I/O thread, maybe): until then a new
 * request is answered 503. Connects and sends `request`, and again while the
 * answer is 503 (for up to WAIT_MS); the answer's head is in resp. Returns
 * the socket. */
static int request_when_free(int port, const char *request, char *resp, size_t cap) {
  long long end = now_ms() + WAIT_MS;
  for (;;) {
    int fd = raw_connect(port, 0);
    resp[0] = 0;
    raw_send_str(fd, request);
    raw_read_until(fd, resp, cap, "\r\n\r\n");
    if (strncmp(resp, "HTTP/1.1 503", 12) != 0 || now_ms() > end) return fd;
    close(fd);
    sleep_ms(10);
  }
}

/* request_when_free with a valid upgrade request (the RFC's sample key) for
 * `path`; 0 when it got 101. */
static int upgrade_when_free(int port, const char *path, int *fd, char *resp, size_t cap) {
  char req[512];
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
           path);
  *fd = request_when_free(port, req, resp, cap);
  return strncmp(resp, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

static void test_raw_handshakes(void) {
  note("malformed handshakes, 503, handshake timeout");
  rec sr;
  rec_init(&sr, "server");
  sr.retain_open = 1;
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_max_connections(cfg, 1);
  ws_server_config_set_handshake_timeout_ms(cfg, 1000);
  ws_server *srv = listen_on("127.0.0.1", &sr, cfg);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "server listens (max_connections 1, handshake timeout 1000 ms)");
  if (!srv) return;
  int port = ws_server_port(srv);
  char resp[4096];

  int fd = request_when_free(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 400", 12) == 0, "a plain GET gets \"HTTP/1.1 400\" (got \"%s\")", first_line(resp));
  CHECK(raw_wait_eof(fd, WAIT_MS), "and the server closes the socket");
  close(fd);

  fd = request_when_free(port,
                         "GET /v HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
                         resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 426", 12) == 0, "Sec-WebSocket-Version: 8 gets \"HTTP/1.1 426\" (got \"%s\")", first_line(resp));
  CHECK(strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n") != NULL, "the 426 names Sec-WebSocket-Version: 13");
  close(fd);

  fd = request_when_free(port, "HELLO\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 400", 12) == 0, "garbage gets \"HTTP/1.1 400\" (got \"%s\")", first_line(resp));
  close(fd);

  fd = raw_connect(port, 0);
  long long t0 = now_ms();
  raw_read_until(fd, resp, sizeof resp, "\r\n\r\n");
  CHECK(now_ms() - t0 < WAIT_MS - 500 && strncmp(resp, "HTTP/1.1 4", 10) == 0,
        "a silent client is answered 4xx after the handshake timeout (got \"%s\" after %lld ms)", first_line(resp),
        now_ms() - t0);
  close(fd);
  CHECK(rec_get(&sr, &sr.n_total) == 0, "failed handshakes run no callback");

  /* a valid raw handshake (the RFC's sample key) */
  CHECK(upgrade_when_free(port, "/raw?k=v", &fd, resp, sizeof resp) == 0, "the RFC sample handshake gets 101");
  CHECK(strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL,
        "with the RFC's Sec-WebSocket-Accept");
  CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS), "server on_open for the raw client");

  /* max_connections 1: the next one gets 503 */
  int fd2 = raw_connect(port, 0);
  raw_ws_handshake(fd2, "/second", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 503", 12) == 0, "over max_connections: \"HTTP/1.1 503\" (got \"%s\")", first_line(resp));
  close(fd2);
  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = connect_to(port, "/third", &cr, NULL);
  EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_HANDSHAKE,
                "a library client over max_connections");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.err_status == WS_ERR_HANDSHAKE, "its on_error(HANDSHAKE)");
  ws_client_free(cl);
  rec_destroy(&cr);

  /* masked text frame from the raw client, then a close 1000 "ok" */
  unsigned char frame[256], payload[256];
  size_t n = raw_client_frame(frame, 0x81, "hi", 2);
  raw_send_all(fd, frame, n);
  CHECK(rec_wait(&sr, &sr.n_msg, 1, WAIT_MS) && msg_is(&sr, WS_MESSAGE_TEXT, "hi", 2), "raw masked text arrives");
  unsigned char cp[4] = {0x03, 0xe8, 'o', 'k'};
  n = raw_client_frame(frame, 0x88, cp, 4);
  raw_send_all(fd, frame, n);
  size_t plen = 0;
  int op = raw_read_frame(fd, payload, sizeof payload, &plen);
  CHECK(op == 0x88 && plen >= 2 && payload[0] == 0x03 && payload[1] == 0xe8,
        "the server answers the close with 1000 (op %#x, len %zu)", op, plen);
  CHECK(raw_wait_eof(fd, WAIT_MS), "and closes TCP first");
  close(fd);
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == 1000 && str_eq(sr.close_reason, "ok"),
        "server on_close(1000, \"ok\") (got %d \"%s\")", sr.close_code, sr.close_reason);

  /* an unmasked frame is a protocol error: on_error(PROTOCOL), close 1002 */
  CHECK(upgrade_when_free(port, "/p", &fd, resp, sizeof resp) == 0, "raw handshake");
  CHECK(rec_wait(&sr, &sr.n_open, 2, WAIT_MS), "on_open");
  raw_send_all(fd, "\x81\x02hi", 4);
  op = raw_read_frame(fd, payload, sizeof payload, &plen);
  CHECK(op == 0x88 && plen >= 2 && payload[0] == 0x03 && payload[1] == 0xea,
        "an unmasked client frame is answered with close 1002 (op %#x)", op);
  CHECK(rec_wait(&sr, &sr.n_error, 1, WAIT_MS) && sr.err_status == WS_ERR_PROTOCOL,
        "server on_error(WS_ERR_PROTOCOL, \"%s\")", sr.err_msg);
  CHECK(raw_wait_eof(fd, WAIT_MS), "the server closes TCP");
  close(fd);
  CHECK(rec_wait(&sr, &sr.n_close, 2, WAIT_MS) && sr.close_code == WS_CLOSED_ABNORMALLY,
        "server on_close(1006) (no close frame from the peer) (got %d)", sr.close_code);
  CHECK(rec_get(&sr, &sr.n_msg) == 1, "the bad frame was not delivered");

  /* invalid UTF-8 text from the peer: close 1007 */
  CHECK(upgrade_when_free(port, "/u", &fd, resp, sizeof resp) == 0, "raw handshake");
  CHECK(rec_wait(&sr, &sr.n_open, 3, WAIT_MS), "on_open");
  n = raw_client_frame(frame, 0x81, "\xff\xfe", 2);
  raw_send_all(fd, frame, n);
  op = raw_read_frame(fd, payload, sizeof payload, &plen);
  CHECK(op == 0x88 && plen >= 2 && payload[0] == 0x03 && payload[1] == 0xef,
        "invalid UTF-8 text is answered with close 1007 (op %#x)", op);
  CHECK(rec_wait(&sr, &sr.n_error, 2, WAIT_MS) && sr.err_status == WS_ERR_PROTOCOL, "on_error(WS_ERR_PROTOCOL)");
  close(fd);
  CHECK(rec_wait(&sr, &sr.n_close, 3, WAIT_MS), "on_close");

  ws_server_free(srv);
  rec_destroy(&sr);
}

static void test_close_timeout(void) {
  note("a peer that never answers our close: the close timeout");
  rec sr;
  rec_init(&sr, "server");
  sr.retain_open = 1;
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_close_timeout_ms(cfg, 300);
  ws_server *srv = listen_on("127.0.0.1", &sr, cfg);
  ws_server_config_free(cfg);
  if (!srv) return;
  char resp[2048];
  int fd = raw_connect(ws_server_port(srv), 0);
  CHECK(raw_ws_handshake(fd, "/t", resp, sizeof resp) == 0, "raw handshake");
  CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1, "on_open");
  if (sr.n_conns == 1) {
    ws_conn *sc = sr.conns[0];
    CHECK_STATUS(ws_conn_close(sc, 1000, "bye"), WS_STATUS_OK, "server closes");
    unsigned char payload[256];
    size_t plen;
    int op = raw_read_frame(fd, payload, sizeof payload, &plen);
    CHECK(op == 0x88 && plen == 5 && memcmp(payload + 2, "bye", 3) == 0, "the raw peer gets the close frame");
    long long t0 = now_ms();
    CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "on_close without an answer");
    CHECK(now_ms() - t0 < WAIT_MS - 1000, "within the close timeout (%lld ms)", now_ms() - t0);
    CHECK(sr.n_error == 1 && sr.err_status == WS_ERR_TIMEOUT, "on_error(WS_ERR_TIMEOUT, \"%s\")", sr.err_msg);
    CHECK(sr.close_code == WS_CLOSED_ABNORMALLY, "on_close(1006) (got %d)", sr.close_code);
    CHECK(ws_conn_close_code(sc) == WS_CLOSED_ABNORMALLY, "ws_conn_close_code 1006");
    CHECK(raw_wait_eof(fd, WAIT_MS), "the server dropped the TCP connection");
  }
  close(fd);
  ws_server_free(srv);
  rec_destroy(&sr);
}

static void test_keepalive(void) {
  note("keepalive: a quiet peer is pinged, then dropped when it stays silent");
  EXPECT_STATUS(ws_server_config_set_keepalive_ms(NULL, 10), WS_ERR_NULL, "server set_keepalive_ms(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_keepalive_ms(NULL, 10), WS_ERR_NULL, "client set_keepalive_ms(NULL cfg)");
  ws_client_config *ccfg = ws_client_config_new();
  CHECK_STATUS(ws_client_config_set_keepalive_ms(ccfg, 0), WS_STATUS_OK, "client set_keepalive_ms(0) turns it off");
  CHECK_STATUS(ws_client_config_set_keepalive_ms(ccfg, 30000), WS_STATUS_OK, "client set_keepalive_ms(30000)");
  ws_client_config_free(ccfg);
  rec sr;
  rec_init(&sr, "server");
  sr.retain_open = 1;
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_keepalive_ms(cfg, 0), WS_STATUS_OK, "server set_keepalive_ms(0)");
  CHECK_STATUS(ws_server_config_set_keepalive_ms(cfg, 200), WS_STATUS_OK, "server set_keepalive_ms(200)");
  ws_server *srv = listen_on("127.0.0.1", &sr, cfg);
  ws_server_config_free(cfg);
  if (!srv) return;
  char resp[2048];
  int fd = raw_connect(ws_server_port(srv), 0);
  long long t0 = now_ms();
  CHECK(raw_ws_handshake(fd, "/quiet", resp, sizeof resp) == 0, "raw handshake");
  unsigned char payload[256];
  size_t plen = 99;
  int op = raw_read_frame(fd, payload, sizeof payload, &plen);
  long long pinged = now_ms() - t0;
  CHECK(op == 0x89 && plen == 0, "the quiet peer gets an empty ping (op %#x)", op);
  CHECK(pinged >= 150, "after about the keepalive interval (%lld ms)", pinged);
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "on_close once the peer stayed silent");
  CHECK(now_ms() - t0 >= 350, "after two intervals of silence (%lld ms)", now_ms() - t0);
  CHECK(sr.n_error == 1 && sr.err_status == WS_ERR_TIMEOUT, "on_error(WS_ERR_TIMEOUT, \"%s\")", sr.err_msg);
  CHECK(sr.close_code == WS_CLOSED_ABNORMALLY, "on_close(1006) (got %d)", sr.close_code);
  CHECK(raw_wait_eof(fd, WAIT_MS), "the server dropped the TCP connection");
  close(fd);
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ limits */

static void test_limits(void) {
  note("max_message_size and send_queue_limit");
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;
  ws_server_config *scfg = ws_server_config_new();
  ws_server_config_set_max_message_size(scfg, 16);
  ws_server *srv = listen_on("127.0.0.1", &sr, scfg);
  ws_server_config_free(scfg);
  if (!srv) return;
  ws_client *cl = open_pair(srv, &sr, &cr, "/", 1);
  ws_conn *c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_send_binary(c, (const uint8_t *)"0123456789abcdef", 16), WS_STATUS_OK, "send 16 bytes");
  CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS), "16 bytes (the server's max) pass");
  CHECK_STATUS(ws_conn_send_binary(c, (const uint8_t *)"0123456789abcdefg", 17), WS_STATUS_OK, "send 17 bytes");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_MESSAGE_TOO_LARGE,
        "over the server's max_message_size: client on_close(1009) (got %d)", cr.close_code);
  CHECK(rec_wait(&sr, &sr.n_error, 1, WAIT_MS) && sr.err_status == WS_ERR_PROTOCOL,
        "server on_error(WS_ERR_PROTOCOL, \"%s\")", sr.err_msg);
  CHECK(rec_get(&sr, &sr.n_msg) == 1, "the large message was not delivered");
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* client side max_message_size and send_queue_limit */
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;
  srv = listen_on("127.0.0.1", &sr, NULL);
  ws_client_config *ccfg = ws_client_config_new();
  ws_client_config_set_max_message_size(ccfg, 8);
  ws_client_config_set_send_queue_limit(ccfg, 100);
  cl = connect_to(ws_server_port(srv), "/", &cr, ccfg);
  ws_client_config_free(ccfg);
  c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "client with limits opens");
  uint8_t big[200] = {0};
  EXPECT_STATUS(ws_conn_send_binary(c, big, sizeof big), WS_ERR_QUEUE_FULL,
                "a 200-byte send over a 100-byte send queue limit");
  CHECK(ws_conn_state(c) == WS_STATE_OPEN, "still OPEN after QUEUE_FULL");
  CHECK_STATUS(ws_conn_send_binary(c, big, 8), WS_STATUS_OK, "an 8-byte send fits");
  CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS) && cr.msg_len == 8, "its 8-byte echo is accepted");
  CHECK_STATUS(ws_conn_send_binary(c, big, 9), WS_STATUS_OK, "a 9-byte send");
  CHECK(rec_wait(&cr, &cr.n_error, 1, WAIT_MS) && cr.err_status == WS_ERR_PROTOCOL,
        "its 9-byte echo is over the client's max: on_error(PROTOCOL, \"%s\")", cr.err_msg);
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == WS_MESSAGE_TOO_LARGE,
        "the server gets close 1009 (got %d)", sr.close_code);
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && rec_get(&cr, &cr.n_msg) == 1, "client on_close, no 9-byte message");
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ concurrency and back-pressure */

enum { SENDERS = 4, PER_SENDER = 100 };

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int received, corrupt, out_of_order;
  int next_seq[SENDERS];
} order_check;

static uint8_t pattern_byte(int who, int seq, size_t i) { return (uint8_t)(who * 31 + seq * 7 + (int)i); }

static size_t pattern_len(int who, int seq) { return 3 + (size_t)((who * 977 + seq * 131) % 3000); }

static void order_on_message(void *ud, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  (void)conn;
  order_check *o = ud;
  pthread_mutex_lock(&o->mu);
  int ok = type == WS_MESSAGE_BINARY && len >= 3 && data[0] < SENDERS;
  if (ok) {
    int who = data[0], seq = data[1] | (data[2] << 8);
    ok = len == pattern_len(who, seq);
    for (size_t i = 3; ok && i < len; i++) ok = data[i] == pattern_byte(who, seq, i);
    if (ok) {
      if (seq != o->next_seq[who]) o->out_of_order++;
      o->next_seq[who] = seq + 1;
    }
  }
  if (!ok) o->corrupt++;
  o->received++;
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

typedef struct {
  ws_conn *conn;
  int who;
  int failures;
} sender_arg;

static void *sender_main(void *arg) {
  sender_arg *a = arg;
  uint8_t buf[3100];
  for (int seq = 0; seq < PER_SENDER; seq++) {
    size_t len = pattern_len(a->who, seq);
    buf[0] = (uint8_t)a->who;
    buf[1] = (uint8_t)(seq & 0xff);
    buf[2] = (uint8_t)(seq >> 8);
    for (size_t i = 3; i < len; i++) buf[i] = pattern_byte(a->who, seq, i);
    if (ws_conn_send_binary(a->conn, buf, len) != WS_STATUS_OK) a->failures++;
  }
  return NULL;
}

static void test_concurrent_sends(void) {
  note("%d threads sending on one connection at once", SENDERS);
  rec sr;
  rec_init(&sr, "echo");
  sr.echo = 1;
  ws_server *srv = listen_on("127.0.0.1", &sr, NULL);
  if (!srv) return;
  order_check o;
  memset(&o, 0, sizeof o);
  pthread_mutex_init(&o.mu, NULL);
  pthread_cond_init(&o.cv, NULL);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_message = order_on_message;
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/concurrent", ws_server_port(srv));
  ws_client *cl = ws_client_connect(url, NULL, &cb, &o);
  CHECK(cl != NULL, "connect");
  if (!cl) {
    ws_server_free(srv);
    return;
  }
  CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "opens");
  pthread_t t[SENDERS];
  sender_arg a[SENDERS];
  for (int i = 0; i < SENDERS; i++) {
    a[i].conn = ws_client_conn(cl);
    a[i].who = i;
    a[i].failures = 0;
    pthread_create(&t[i], NULL, sender_main, &a[i]);
  }
  int failures = 0;
  for (int i = 0; i < SENDERS; i++) {
    pthread_join(t[i], NULL);
    failures += a[i].failures;
  }
  CHECK(failures == 0, "every concurrent send was accepted (%d failed)", failures);
  struct timespec dl;
  deadline_in(&dl, WAIT_MS);
  pthread_mutex_lock(&o.mu);
  while (o.received < SENDERS * PER_SENDER && pthread_cond_timedwait(&o.cv, &o.mu, &dl) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&o.mu);
  CHECK(o.received == SENDERS * PER_SENDER, "all %d echoes arrived (%d)", SENDERS * PER_SENDER, o.received);
  CHECK(o.corrupt == 0, "no message was corrupted or interleaved (%d bad)", o.corrupt);
  CHECK(o.out_of_order == 0, "each thread's messages arrived in the order it sent them (%d out of order)",
        o.out_of_order);
  ws_client_free(cl);
  ws_server_free(srv);
  pthread_mutex_destroy(&o.mu);
  pthread_cond_destroy(&o.cv);
  rec_destroy(&sr);
}

static void test_queue_full(void) {
  note("a peer that does not read: WS_ERR_QUEUE_FULL, buffered amount");
  rec sr;
  rec_init(&sr, "server");
  sr.retain_open = 1;
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_send_queue_limit(cfg, 1 << 20);
  ws_server *srv = listen_on("127.0.0.1", &sr, cfg);
  ws_server_config_free(cfg);
  if (!srv) return;
  char resp[2048];
  int fd = raw_connect(ws_server_port(srv), 0);
  CHECK(raw_ws_handshake(fd, "/slow-reader", resp, sizeof resp) == 0, "raw handshake");
  CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1, "on_open");
  if (sr.n_conns == 1) {
    ws_conn *sc = sr.conns[0];
    enum { CHUNK = 64 * 1024 };
    uint8_t *chunk = calloc(1, CHUNK);
    int st = WS_STATUS_OK, sends = 0;
    long long end = now_ms() + WAIT_MS;
    while (st == WS_STATUS_OK && sends < 2000 && now_ms() < end) {
      st = ws_conn_send_binary(sc, chunk, CHUNK);
      if (st == WS_STATUS_OK) sends++;
      else break;
      sleep_ms(1); /* let the I/O thread fill the socket first */
    }
    free(chunk);
    CHECK(st == WS_ERR_QUEUE_FULL && ws_last_error_code() == WS_ERR_QUEUE_FULL,
          "sending to a peer that does not read ends in WS_ERR_QUEUE_FULL (%s after %d sends)", ws_status_name(st),
          sends);
    size_t amount = ws_conn_buffered_amount(sc);
    CHECK(amount > (1 << 20) - 2 * CHUNK && amount <= (1 << 20),
          "ws_conn_buffered_amount is near the 1 MiB limit (%zu)", amount);
    CHECK(ws_conn_state(sc) == WS_STATE_OPEN, "the connection stays OPEN");
    close(fd);
    CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "on_close once the peer goes away");
    long long end2 = now_ms() + WAIT_MS;
    while (ws_conn_buffered_amount(sc) != 0 && now_ms() < end2) sleep_ms(5);
    CHECK(ws_conn_buffered_amount(sc) == 0, "the buffered amount is given back once closed (%zu)",
          ws_conn_buffered_amount(sc));
  } else {
    close(fd);
  }
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* A raw client of `port`, past the handshake; -1 on failure. */
static int raw_ws_client(int port) {
  int fd = raw_connect(port, 0);
  char resp[1024];
  if (fd >= 0 && raw_ws_handshake(fd, "/", resp, sizeof resp) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The raw client sends a masked frame. */
static void raw_frame(int fd, int first_byte, const char *payload) {
  unsigned char buf[64];
  raw_send_all(fd, buf, raw_client_frame(buf, first_byte, payload, strlen(payload)));
}

/* The next frame the raw client reads is `first_byte` with `payload`. */
static int raw_next_is(int fd, int first_byte, const char *payload) {
  unsigned char got[128];
  size_t len = 0;
  int b0 = raw_read_frame(fd, got, sizeof got, &len);
  return b0 == first_byte && len == strlen(payload) && memcmp(got, payload, len) == 0;
}

/* Automatic pongs off (config, then per connection), a message-size limit
 * set on the open connection, and ws_conn_abort, seen by a raw client. */
static void test_conn_controls(void) {
  note("auto pong off, ws_conn_pong answers; ws_conn_set_max_message_size; ws_conn_abort");
  EXPECT_STATUS(ws_server_config_set_auto_pong(NULL, 0), WS_ERR_NULL, "server set_auto_pong(NULL)");
  EXPECT_STATUS(ws_client_config_set_auto_pong(NULL, 0), WS_ERR_NULL, "client set_auto_pong(NULL)");
  ws_client_config *ccfg = ws_client_config_new();
  CHECK_STATUS(ws_client_config_set_auto_pong(ccfg, 0), WS_STATUS_OK, "client set_auto_pong(0)");
  ws_client_config_free(ccfg);
  rec sr;
  rec_init(&sr, "controls");
  sr.retain_open = 1;
  ws_server_config *cfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_auto_pong(cfg, 0), WS_STATUS_OK, "server set_auto_pong(0)");
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  int fd = srv ? raw_ws_client(ws_server_port(srv)) : -1;
  if (!CHECK(fd >= 0 && rec_wait(&sr, &sr.n_open, 1, WAIT_MS), "a raw client opens")) goto out;
  set_timeouts(fd, WAIT_MS);
  ws_conn *s = sr.conns[0];
  raw_frame(fd, 0x89, "one");
  CHECK(rec_wait(&sr, &sr.n_ping, 1, WAIT_MS) && sr.ping_len == 3, "on_ping reports the ping");
  CHECK_STATUS(ws_conn_send_text(s, "marker", 6), WS_STATUS_OK, "send a marker after it");
  CHECK(raw_next_is(fd, 0x81, "marker"), "no pong went out before the marker");
  CHECK_STATUS(ws_conn_pong(s, (const uint8_t *)"one", 3), WS_STATUS_OK, "ws_conn_pong answers");
  CHECK(raw_next_is(fd, 0x8a, "one"), "the peer gets that pong");
  CHECK_STATUS(ws_conn_set_auto_pong(s, 1), WS_STATUS_OK, "set_auto_pong(conn, 1)");
  EXPECT_STATUS(ws_conn_set_auto_pong(NULL, 1), WS_ERR_NULL, "set_auto_pong(NULL)");
  raw_frame(fd, 0x89, "two");
  CHECK(raw_next_is(fd, 0x8a, "two"), "switched on, the next ping is answered by the library");

  EXPECT_STATUS(ws_conn_set_max_message_size(s, 0), WS_ERR_INVALID_ARGUMENT, "set_max_message_size(0)");
  CHECK_STATUS(ws_conn_set_max_message_size(s, 4), WS_STATUS_OK, "set_max_message_size(4)");
  raw_frame(fd, 0x81, "four");
  CHECK(rec_wait(&sr, &sr.n_msg, 1, WAIT_MS), "a 4-byte message passes");
  raw_frame(fd, 0x81, "fives");
  unsigned char close_payload[128];
  size_t close_len = 0;
  int b0 = raw_read_frame(fd, close_payload, sizeof close_payload, &close_len);
  CHECK(b0 == 0x88 && close_len >= 2 && close_payload[0] == 0x03 && close_payload[1] == 0xf1,
        "a 5-byte one is closed with 1009");
  close(fd);
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.err_status == WS_ERR_PROTOCOL, "on_error, on_close");
  EXPECT_STATUS(ws_conn_set_max_message_size(s, 4), WS_ERR_NOT_OPEN, "set_max_message_size once closed");

  fd = raw_ws_client(ws_server_port(srv));
  if (!CHECK(fd >= 0 && rec_wait(&sr, &sr.n_open, 2, WAIT_MS), "another raw client opens")) goto out;
  s = sr.conns[1];
  CHECK_STATUS(ws_conn_abort(s), WS_STATUS_OK, "ws_conn_abort");
  unsigned char byte;
  CHECK(recv(fd, &byte, 1, 0) <= 0, "the peer sees TCP end, without a close frame");
  CHECK(rec_wait(&sr, &sr.n_close, 2, WAIT_MS) && sr.close_code == WS_CLOSED_ABNORMALLY &&
            str_eq(sr.close_reason, "aborted"),
        "on_close(1006, \"aborted\") (got %d \"%s\")", sr.close_code, sr.close_reason);
  EXPECT_STATUS(ws_conn_abort(s), WS_ERR_NOT_OPEN, "ws_conn_abort again");
  EXPECT_STATUS(ws_conn_abort(NULL), WS_ERR_NULL, "ws_conn_abort(NULL)");
  close(fd);
out:
  ws_server_free(srv);
  rec_destroy(&sr);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CB = rec_callbacks();
  CHECK(ws_last_error_code() == WS_STATUS_OK && str_eq(ws_last_error_message(), ""),
        "before any failure: last error WS_STATUS_OK and \"\"");
  test_last_error_model();
  test_version_names_constants();
  test_server_config();
  test_client_config();
  test_null_arguments();
  test_urls();
  test_session();
  test_close_variants();
  test_connect_failures();
  test_listen();
  test_reuse_port();
  test_server_connections();
  test_free_in_callbacks();
  test_raw_handshakes();
  test_close_timeout();
  test_keepalive();
  test_limits();
  test_concurrent_sends();
  test_queue_full();
  test_conn_controls();
  return check_summary();
}
