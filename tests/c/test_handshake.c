/*
 * test_handshake: control of the opening handshake through the C API, over
 * loopback sockets: subprotocols, Origin and the Origin allow-list, the
 * handshake headers of both ends (ws_conn_header*), the on_handshake callback
 * and every ws_handshake_* function (thread and poll dispatch, answers now,
 * later, from another thread, never; misuse), HTTP CONNECT proxies (a tiny
 * proxy runs in a thread of this test), the connect and handshake timeouts,
 * and plain HTTP on the WebSocket port (static files, a fixed response).
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#include <sys/stat.h>

static ws_callbacks CB; /* the recorder's callbacks, no on_handshake */
static pthread_t g_main;

/* ------------------------------------------------------------ helpers */

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static int contains(const char *haystack, const char *needle) {
  return haystack && needle && strstr(haystack, needle) != NULL;
}

static const char *show(const char *s) { return s ? s : "(NULL)"; }

/* The first line of s, for messages (static buffer). */
static const char *first_line(const char *s) {
  static char line[160];
  size_t n = strcspn(s, "\r\n");
  if (n >= sizeof line) n = sizeof line - 1;
  memcpy(line, s, n);
  line[n] = 0;
  return line;
}

static int msg_is(rec *r, int type, const void *data, size_t len) {
  pthread_mutex_lock(&r->mu);
  int ok = r->last_type == type && r->msg_len == len && (len == 0 || memcmp(r->msg, data, len) == 0);
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static ws_client *connect_path(int port, const char *path, const ws_client_config *cfg, rec *r) {
  char url[512];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", port, path);
  ws_client *c = ws_client_connect(url, cfg, &CB, r);
  CHECK(c != NULL, "ws_client_connect(\"%s\") returns a client (%s)", url, c ? "ok" : last_msg());
  return c;
}

/* A WebSocket upgrade request for a raw socket, with extra header lines. */
static void upgrade_request(char *out, size_t cap, int port, const char *path, const char *extra) {
  snprintf(out, cap,
           "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
           path, port, extra ? extra : "");
}

/* Sends `request` on a new connection and reads only the response head (a 101
 * leaves the connection open), then closes. */
static void raw_head_exchange(int port, const char *request, char *resp, size_t cap) {
  resp[0] = 0;
  int fd = raw_connect(port, 0);
  if (fd < 0) return;
  if (raw_send_str(fd, request) == 0) raw_read_until(fd, resp, cap, "\r\n\r\n");
  close(fd);
}

/* A client connection that must fail its handshake: WS_ERR_HANDSHAKE with a
 * message containing `needle`, then on_close(1006). */
static void expect_handshake_failure(const char *what, ws_client *cl, rec *cr, const char *needle) {
  if (!cl) return;
  char d[256];
  snprintf(d, sizeof d, "%s: ws_conn_wait_open", what);
  EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_HANDSHAKE, d);
  rec_wait(cr, &cr->n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
  CHECK(rec_wait(cr, &cr->n_close, 1, WAIT_MS) && cr->n_error == 1 && cr->err_status == WS_ERR_HANDSHAKE &&
            contains(cr->err_msg, needle),
        "%s: on_error(WS_ERR_HANDSHAKE, \"...%s...\") (got %s \"%s\")", what, needle, ws_status_name(cr->err_status),
        cr->err_msg);
  CHECK(cr->close_code == WS_CLOSED_ABNORMALLY && cr->n_open == 0, "%s: on_close(1006), never opened (got %d)", what,
        cr->close_code);
}

/* Sends a text message and waits for it to come back (the server echoes). */
static int echo_once(ws_client *cl, rec *cr, const char *text) {
  int before = rec_get(cr, &cr->n_msg);
  if (ws_conn_send_text(ws_client_conn(cl), text, strlen(text)) != WS_STATUS_OK) return 0;
  return rec_wait(cr, &cr->n_msg, before + 1, WAIT_MS) && msg_is(cr, WS_MESSAGE_TEXT, text, strlen(text));
}

/* Closes the client's connection with 1000 and waits for the close handshake. */
static int close_normally(ws_client *cl) {
  ws_conn *c = ws_client_conn(cl);
  return ws_conn_close(c, 1000, NULL) == WS_STATUS_OK && ws_conn_wait_closed(c, WAIT_MS) == WS_STATUS_OK &&
         ws_conn_close_code(c) == 1000;
}

/* ------------------------------------------------------------ subprotocols */

static void test_subprotocol_setters(void) {
  note("subprotocol setters");
  ws_client_config *cc = ws_client_config_new();
  ws_server_config *sc = ws_server_config_new();
  EXPECT_STATUS(ws_client_config_add_subprotocol(cc, "chat.v1"), WS_STATUS_OK, "client add_subprotocol(chat.v1)");
  EXPECT_STATUS(ws_server_config_add_subprotocol(sc, "chat.v1"), WS_STATUS_OK, "server add_subprotocol(chat.v1)");
  static const char *const bad[] = {"a b", "", "a,b", "\"q\"", "a\tb", "x;y", "(p)", "caf\xc3\xa9", "a\r\nb"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "client add_subprotocol(invalid #%zu)", i);
    EXPECT_STATUS(ws_client_config_add_subprotocol(cc, bad[i]), WS_ERR_INVALID_ARGUMENT, what);
    snprintf(what, sizeof what, "server add_subprotocol(invalid #%zu)", i);
    EXPECT_STATUS(ws_server_config_add_subprotocol(sc, bad[i]), WS_ERR_INVALID_ARGUMENT, what);
  }
  EXPECT_STATUS(ws_client_config_add_subprotocol(cc, "\xff"), WS_ERR_INVALID_ARGUMENT,
                "client add_subprotocol(non-UTF-8)");
  EXPECT_STATUS(ws_client_config_add_subprotocol(NULL, "x"), WS_ERR_NULL, "client add_subprotocol(NULL cfg)");
  EXPECT_STATUS(ws_client_config_add_subprotocol(cc, NULL), WS_ERR_NULL, "client add_subprotocol(NULL name)");
  EXPECT_STATUS(ws_server_config_add_subprotocol(NULL, "x"), WS_ERR_NULL, "server add_subprotocol(NULL cfg)");
  EXPECT_STATUS(ws_server_config_add_subprotocol(sc, NULL), WS_ERR_NULL, "server add_subprotocol(NULL name)");
  /* Sec-WebSocket-Protocol and Origin have their own setters. */
  EXPECT_STATUS(ws_client_config_add_header(cc, "Sec-WebSocket-Protocol", "x"), WS_ERR_INVALID_ARGUMENT,
                "client add_header(Sec-WebSocket-Protocol) (use add_subprotocol)");
  EXPECT_STATUS(ws_client_config_add_header(cc, "origin", "https://x"), WS_ERR_INVALID_ARGUMENT,
                "client add_header(origin) (use set_origin)");
  EXPECT_NULL_ERR(ws_conn_subprotocol(NULL), WS_ERR_NULL, "ws_conn_subprotocol(NULL)");
  ws_client_config_free(cc);
  ws_server_config_free(sc);
}

/* Connects a client offering `offer` (NULL-terminated) to a server speaking
 * `speak`; returns the client (opened or failed) and fills the recorders. */
static ws_client *subprotocol_pair(const char *const *speak, const char *const *offer, ws_server **srv, rec *sr,
                                   rec *cr) {
  ws_server_config *scfg = ws_server_config_new();
  for (; speak && *speak; speak++) ws_server_config_add_subprotocol(scfg, *speak);
  *srv = ws_server_listen("127.0.0.1", 0, scfg, &CB, sr);
  ws_server_config_free(scfg);
  ws_client_config *ccfg = ws_client_config_new();
  for (; offer && *offer; offer++) ws_client_config_add_subprotocol(ccfg, *offer);
  ws_client *cl = *srv ? connect_path(ws_server_port(*srv), "/", ccfg, cr) : NULL;
  ws_client_config_free(ccfg);
  return cl;
}

static void test_subprotocols(void) {
  note("subprotocol negotiation");
  static const char *const server_pref[] = {"chat.v2", "chat.v1", NULL};
  static const char *const client_offer[] = {"chat.v1", "chat.v2", NULL};
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.retain_open = 1;
  sr.echo = 1;
  ws_server *srv;
  ws_client *cl = subprotocol_pair(server_pref, client_offer, &srv, &sr, &cr);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "client offering chat.v1, chat.v2 opens");
    CHECK(str_eq(ws_conn_subprotocol(c), "chat.v2"),
          "the server picked its own preferred chat.v2: client ws_conn_subprotocol == \"chat.v2\" (got \"%s\")",
          show(ws_conn_subprotocol(c)));
    CHECK(str_eq(ws_conn_header(c, "Sec-WebSocket-Protocol"), "chat.v2"), "the 101 said Sec-WebSocket-Protocol: chat.v2");
    CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1, "server on_open");
    ws_conn *s = sr.n_conns ? sr.conns[0] : NULL;
    CHECK(s && str_eq(ws_conn_subprotocol(s), "chat.v2"), "server side ws_conn_subprotocol == \"chat.v2\" (got \"%s\")",
          s ? show(ws_conn_subprotocol(s)) : "-");
    CHECK(s && str_eq(ws_conn_header(s, "sec-websocket-protocol"), "chat.v1, chat.v2"),
          "the server read the offer \"chat.v1, chat.v2\" (got \"%s\")",
          s ? show(ws_conn_header(s, "sec-websocket-protocol")) : "-");
    CHECK(echo_once(cl, &cr, "sub"), "messages flow");
    CHECK(close_normally(cl), "closed with 1000");
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* none acceptable: the server answers 400 */
  static const char *const other[] = {"x.other", NULL};
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  cl = subprotocol_pair(server_pref, other, &srv, &sr, &cr);
  expect_handshake_failure("offering only x.other to a chat server", cl, &cr, "400");
  CHECK(rec_get(&sr, &sr.n_open) == 0, "the server opened nothing");
  ws_client_free(cl);
  char req[1024], resp[4096];
  upgrade_request(req, sizeof req, srv ? ws_server_port(srv) : 1, "/", "Sec-WebSocket-Protocol: x.other\r\n");
  raw_exchange(srv ? ws_server_port(srv) : 1, req, resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0 && contains(http_body(resp), "x.other"),
        "raw: 400 whose body names the offer (got \"%s\")", first_line(resp));
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* the client offers, the server speaks none: the client refuses the 101 */
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  cl = subprotocol_pair(NULL, client_offer, &srv, &sr, &cr);
  expect_handshake_failure("offering subprotocols to a server that has none", cl, &cr, "subprotocol");
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* the server speaks some, the client offers none: no subprotocol */
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.retain_open = 1;
  cl = subprotocol_pair(server_pref, NULL, &srv, &sr, &cr);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "a client offering nothing opens");
    CHECK(str_eq(ws_conn_subprotocol(c), ""), "client ws_conn_subprotocol == \"\" (got \"%s\")",
          show(ws_conn_subprotocol(c)));
    CHECK(ws_conn_header(c, "Sec-WebSocket-Protocol") == NULL, "the 101 has no Sec-WebSocket-Protocol");
    CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1 && str_eq(ws_conn_subprotocol(sr.conns[0]), ""),
          "server ws_conn_subprotocol == \"\"");
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ Origin */

static void test_origin(void) {
  note("Origin: sent by the client, read by the server, the allow-list");
  ws_client_config *cfg = ws_client_config_new();
  EXPECT_STATUS(ws_client_config_set_origin(NULL, "https://x"), WS_ERR_NULL, "set_origin(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_origin(cfg, "https://x\r\nEvil: 1"), WS_ERR_INVALID_ARGUMENT,
                "set_origin with CR LF");
  EXPECT_STATUS(ws_client_config_set_origin(cfg, "https://x\n"), WS_ERR_INVALID_ARGUMENT, "set_origin with LF");
  EXPECT_STATUS(ws_client_config_set_origin(cfg, NULL), WS_STATUS_OK, "set_origin(NULL) (none)");
  ws_server_config *scfg = ws_server_config_new();
  EXPECT_STATUS(ws_server_config_add_allowed_origin(NULL, "https://x"), WS_ERR_NULL, "add_allowed_origin(NULL cfg)");
  EXPECT_STATUS(ws_server_config_add_allowed_origin(scfg, NULL), WS_ERR_NULL, "add_allowed_origin(NULL origin)");
  EXPECT_STATUS(ws_server_config_add_allowed_origin(scfg, ""), WS_ERR_INVALID_ARGUMENT, "add_allowed_origin(\"\")");
  EXPECT_STATUS(ws_server_config_add_allowed_origin(scfg, "https://a\r\nb"), WS_ERR_INVALID_ARGUMENT,
                "add_allowed_origin with CR LF");
  EXPECT_STATUS(ws_server_config_add_allowed_origin(scfg, "https://app.example/"), WS_STATUS_OK,
                "add_allowed_origin(https://app.example/)");
  EXPECT_STATUS(ws_server_config_add_allowed_origin(scfg, "http://localhost:8080"), WS_STATUS_OK,
                "add_allowed_origin(http://localhost:8080)");

  rec sr;
  rec_init(&sr, "origin-server");
  sr.retain_open = 1;
  sr.echo = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, scfg, &CB, &sr);
  ws_server_config_free(scfg);
  int port = srv ? ws_server_port(srv) : 1;

  /* allowed (case and trailing "/" do not matter); the server reads it */
  rec cr;
  rec_init(&cr, "allowed");
  CHECK_STATUS(ws_client_config_set_origin(cfg, "HTTPS://App.Example"), WS_STATUS_OK, "set_origin(HTTPS://App.Example)");
  ws_client *cl = connect_path(port, "/", cfg, &cr);
  if (cl) {
    CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "an allowed Origin opens");
    CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1, "server on_open");
    const char *o = sr.n_conns ? ws_conn_header(sr.conns[0], "origin") : NULL;
    CHECK(str_eq(o, "HTTPS://App.Example"), "the server reads Origin \"HTTPS://App.Example\" (got \"%s\")", show(o));
    CHECK(close_normally(cl), "closed with 1000");
  }
  ws_client_free(cl);
  rec_destroy(&cr);

  /* another origin: 403 */
  rec_init(&cr, "refused");
  ws_client_config_set_origin(cfg, "https://evil.example");
  cl = connect_path(port, "/", cfg, &cr);
  expect_handshake_failure("Origin https://evil.example", cl, &cr, "403");
  ws_client_free(cl);
  rec_destroy(&cr);
  char req[1024], resp[4096];
  upgrade_request(req, sizeof req, port, "/", "Origin: https://evil.example\r\n");
  raw_exchange(port, req, resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 403 ", 13) == 0 && contains(http_body(resp), "evil.example"),
        "raw: Origin outside the list gets 403 naming it (got \"%s\")", first_line(resp));
  upgrade_request(req, sizeof req, port, "/raw", "Origin: http://localhost:8080/\r\n");
  raw_head_exchange(port, req, resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "raw: the second allowed origin gets 101 (got \"%s\")",
        first_line(resp));

  /* NULL clears it: no Origin at all is let through */
  rec_init(&cr, "no-origin");
  CHECK_STATUS(ws_client_config_set_origin(cfg, NULL), WS_STATUS_OK, "set_origin(NULL) clears it");
  cl = connect_path(port, "/no-origin", cfg, &cr);
  if (cl) {
    CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK,
                 "no Origin header: let through the allow-list");
    rec_wait(&sr, &sr.n_conns, 3, WAIT_MS);
    ws_conn *s = NULL;
    pthread_mutex_lock(&sr.mu);
    for (int i = 0; i < sr.n_conns; i++)
      if (str_eq(ws_conn_path(sr.conns[i]), "/no-origin")) s = sr.conns[i];
    pthread_mutex_unlock(&sr.mu);
    CHECK(s && ws_conn_header(s, "Origin") == NULL, "the server sees no Origin header (got \"%s\")",
          s ? show(ws_conn_header(s, "Origin")) : "-");
    CHECK(close_normally(cl), "closed with 1000");
  }
  ws_client_free(cl);
  rec_destroy(&cr);
  ws_client_config_free(cfg);
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ headers */

static void test_conn_headers(void) {
  note("ws_conn_header, _count, _at on both ends");
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.retain_open = 1;
  cr.retain_open = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  int port = srv ? ws_server_port(srv) : 1;
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_add_header(cfg, "X-Client", "c1");
  ws_client_config_add_header(cfg, "X-Empty", "");
  ws_client *cl = connect_path(port, "/h", cfg, &cr);
  ws_client_config_free(cfg);
  if (!cl || ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) != WS_STATUS_OK ||
      !rec_wait(&sr, &sr.n_open, 1, WAIT_MS)) {
    CHECK(0, "the pair opens (%s)", last_msg());
    ws_client_free(cl);
    ws_server_free(srv);
    rec_destroy(&sr);
    rec_destroy(&cr);
    return;
  }
  ws_conn *c = ws_client_conn(cl), *s = sr.conns[0];

  /* server side: the request headers */
  int n = ws_conn_header_count(s);
  CHECK(n >= 7, "server: ws_conn_header_count >= 7 (got %d)", n);
  int found_client = -1, found_host = -1, all_ok = 1;
  for (int i = 0; i < n; i++) {
    const char *name = NULL, *value = NULL;
    if (ws_conn_header_at(s, (size_t)i, &name, &value) != WS_STATUS_OK || !name || !value) {
      all_ok = 0;
      continue;
    }
    if (strcasecmp(name, "X-Client") == 0 && strcmp(value, "c1") == 0) found_client = i;
    if (strcasecmp(name, "Host") == 0) found_host = i;
    /* ws_conn_header finds the first of a name: the same value for a unique name */
    const char *again = ws_conn_header(s, name);
    if (!again) all_ok = 0;
  }
  CHECK(all_ok, "server: every ws_conn_header_at(0..%d) gives a name and value also found by ws_conn_header", n - 1);
  CHECK(found_client >= 0, "server: the client's X-Client: c1 is among them (index %d)", found_client);
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%d", port);
  CHECK(found_host >= 0 && str_eq(ws_conn_header(s, "HOST"), host), "server: Host is \"%s\" (got \"%s\")", host,
        show(ws_conn_header(s, "HOST")));
  CHECK(str_eq(ws_conn_header(s, "x-client"), "c1"), "server: ws_conn_header is case-insensitive (x-client)");
  CHECK(str_eq(ws_conn_header(s, "X-Empty"), ""), "server: an empty header value reads as \"\" (got \"%s\")",
        show(ws_conn_header(s, "X-Empty")));
  CHECK(str_eq(ws_conn_header(s, "Sec-WebSocket-Version"), "13"), "server: Sec-WebSocket-Version is 13");
  CHECK(ws_conn_header(s, "X-Missing") == NULL, "server: a missing header reads as NULL");
  CHECK_STATUS(ws_conn_header_at(s, 0, NULL, NULL), WS_STATUS_OK, "ws_conn_header_at(0, NULL, NULL)");
  EXPECT_STATUS(ws_conn_header_at(s, (size_t)n, NULL, NULL), WS_ERR_INVALID_ARGUMENT, "ws_conn_header_at(count)");
  EXPECT_STATUS(ws_conn_header_at(s, (size_t)-1, NULL, NULL), WS_ERR_INVALID_ARGUMENT, "ws_conn_header_at(SIZE_MAX)");

  /* client side: the 101's headers */
  int m = ws_conn_header_count(c);
  CHECK(m >= 3, "client: ws_conn_header_count >= 3 (got %d)", m);
  const char *accept = ws_conn_header(c, "sec-websocket-accept");
  CHECK(accept && strlen(accept) == 28, "client: Sec-WebSocket-Accept is 28 characters (\"%s\")", show(accept));
  CHECK(ws_conn_header(c, "Upgrade") && strcasecmp(ws_conn_header(c, "Upgrade"), "websocket") == 0,
        "client: Upgrade: websocket");
  int seen_accept = 0;
  for (int i = 0; i < m; i++) {
    const char *name = NULL, *value = NULL;
    if (ws_conn_header_at(c, (size_t)i, &name, &value) == WS_STATUS_OK && name &&
        strcasecmp(name, "Sec-WebSocket-Accept") == 0 && str_eq(value, accept))
      seen_accept = 1;
  }
  CHECK(seen_accept, "client: ws_conn_header_at lists Sec-WebSocket-Accept with the same value");
  CHECK(ws_conn_header(c, "X-Client") == NULL, "client: its own request headers are not the peer's");
  EXPECT_STATUS(ws_conn_header_at(c, (size_t)m, NULL, NULL), WS_ERR_INVALID_ARGUMENT, "client ws_conn_header_at(count)");

  /* NULL arguments */
  EXPECT_NULL_ERR(ws_conn_header(NULL, "Host"), WS_ERR_NULL, "ws_conn_header(NULL conn)");
  EXPECT_NULL_ERR(ws_conn_header(s, NULL), WS_ERR_NULL, "ws_conn_header(NULL name)");
  EXPECT_STATUS(ws_conn_header_count(NULL), WS_ERR_NULL, "ws_conn_header_count(NULL)");
  const char *nm = NULL;
  EXPECT_STATUS(ws_conn_header_at(NULL, 0, &nm, NULL), WS_ERR_NULL, "ws_conn_header_at(NULL conn)");

  /* still readable once closed, while the handle is held */
  CHECK(close_normally(cl), "closed with 1000");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS), "server on_close");
  CHECK(str_eq(ws_conn_header(s, "X-Client"), "c1") && ws_conn_header_count(s) == n,
        "server: the headers stay readable after close (handle retained)");
  CHECK(ws_conn_header(c, "Sec-WebSocket-Accept") != NULL && ws_conn_header_count(c) == m,
        "client: the headers stay readable after close");
  ws_client_free(cl);
  CHECK(cr.n_conns == 1 && str_eq(ws_conn_header(cr.conns[0], "Sec-WebSocket-Accept"), accept),
        "client: and after ws_client_free while retained");
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* before the connection opened: no headers */
  int lport;
  int lfd = raw_listen(&lport, 0);
  rec_init(&cr, "connecting");
  cl = connect_path(lport, "/", NULL, &cr);
  if (cl) {
    c = ws_client_conn(cl);
    EXPECT_STATUS(ws_conn_wait_open(c, 100), WS_ERR_TIMEOUT, "a silent server: still connecting after 100 ms");
    CHECK(ws_conn_header(c, "Upgrade") == NULL, "connecting: ws_conn_header -> NULL");
    CHECK(ws_conn_header_count(c) == 0, "connecting: ws_conn_header_count == 0 (got %d)", ws_conn_header_count(c));
    EXPECT_STATUS(ws_conn_header_at(c, 0, NULL, NULL), WS_ERR_INVALID_ARGUMENT, "connecting: ws_conn_header_at(0)");
  }
  ws_client_free(cl);
  close(lfd);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ on_handshake */

typedef enum { HS_ACCEPT, HS_INSPECT, HS_REJECT, HS_REJECT_JSON, HS_HOLD } hs_mode;

/* A server's recorder plus what its on_handshake saw and did. */
typedef struct {
  rec r; /* first: the recorder's callbacks take user_data as a rec * */
  hs_mode mode;
  const char *accept_with; /* HS_ACCEPT: the subprotocol to accept with */
  int calls, answers_ok, on_main;
  ws_handshake *held; /* HS_HOLD: the handle, to answer later */
  char method[16], path[128], query[128], peer[64];
} hsrec;

static void hsrec_init(hsrec *h, const char *name, hs_mode mode) {
  memset(h, 0, sizeof *h);
  rec_init(&h->r, name);
  h->mode = mode;
}

static void copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : "(NULL)"); }

/* Every check of a live handle from inside on_handshake (the I/O thread, or
 * the dispatching thread in poll mode), then accepts with chat.v2. */
static void inspect_and_accept(hsrec *h, ws_handshake *hs) {
  CHECK(str_eq(ws_handshake_method(hs), "GET"), "on_handshake: method GET (got %s)", show(ws_handshake_method(hs)));
  CHECK(str_eq(ws_handshake_path(hs), "/room/7"), "on_handshake: path /room/7 (got %s)", show(ws_handshake_path(hs)));
  CHECK(str_eq(ws_handshake_query(hs), "user=ann&x=%20y"), "on_handshake: query user=ann&x=%%20y (got %s)",
        show(ws_handshake_query(hs)));
  CHECK(strncmp(show(ws_handshake_peer_address(hs)), "127.0.0.1:", 10) == 0, "on_handshake: peer 127.0.0.1:port (%s)",
        show(ws_handshake_peer_address(hs)));
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_handshake_is_secure(hs) == 0 && ws_last_error_code() == WS_ERR_INVALID_ARGUMENT,
        "on_handshake: ws_handshake_is_secure == 0 (plain), no error");

  int n = ws_handshake_header_count(hs);
  CHECK(n >= 8, "on_handshake: ws_handshake_header_count >= 8 (got %d)", n);
  int all_ok = 1, seen_client = 0;
  for (int i = 0; i < n; i++) {
    const char *name = NULL, *value = NULL;
    if (ws_handshake_header_at(hs, (size_t)i, &name, &value) != WS_STATUS_OK || !name || !value)
      all_ok = 0;
    else if (strcmp(name, "X-Client") == 0 && strcmp(value, "hs") == 0)
      seen_client = 1;
  }
  CHECK(all_ok && seen_client, "on_handshake: ws_handshake_header_at lists every header, X-Client: hs among them");
  CHECK_STATUS(ws_handshake_header_at(hs, 0, NULL, NULL), WS_STATUS_OK, "ws_handshake_header_at(0, NULL, NULL)");
  EXPECT_STATUS(ws_handshake_header_at(hs, (size_t)n, NULL, NULL), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_header_at(count)");
  const char *key = ws_handshake_header(hs, "sec-websocket-key");
  CHECK(key && strlen(key) == 24, "on_handshake: Sec-WebSocket-Key (case-insensitive) is 24 characters (%s)", show(key));
  CHECK(str_eq(ws_handshake_header(hs, "Origin"), "https://app.example"), "on_handshake: Origin https://app.example");
  CHECK(ws_handshake_header(hs, "X-Missing") == NULL, "on_handshake: a missing header -> NULL");
  EXPECT_NULL_ERR(ws_handshake_header(hs, NULL), WS_ERR_NULL, "ws_handshake_header(NULL name)");

  CHECK(str_eq(ws_handshake_subprotocol_at(hs, 0), "chat.v1") && str_eq(ws_handshake_subprotocol_at(hs, 1), "chat.v2"),
        "on_handshake: offered subprotocols chat.v1, chat.v2 in order");
  CHECK(ws_handshake_subprotocol_at(hs, 2) == NULL, "on_handshake: ws_handshake_subprotocol_at past the last -> NULL");

  static const char *const reserved[] = {"Sec-WebSocket-Protocol", "Content-Length", "Upgrade", "connection",
                                         "Sec-WebSocket-Accept",   "Sec-WebSocket-Extensions", "Transfer-Encoding"};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "ws_handshake_add_header(\"%s\") (the library writes it)", reserved[i]);
    EXPECT_STATUS(ws_handshake_add_header(hs, reserved[i], "x"), WS_ERR_INVALID_ARGUMENT, what);
  }
  EXPECT_STATUS(ws_handshake_add_header(hs, "X-Evil", "a\r\nInjected: 1"), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_add_header with CR LF in the value");
  EXPECT_STATUS(ws_handshake_add_header(hs, "X-Evil", "a\nb"), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_add_header with LF in the value");
  EXPECT_STATUS(ws_handshake_add_header(hs, "Bad Name", "v"), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_add_header with a space in the name");
  EXPECT_STATUS(ws_handshake_add_header(hs, "X\r\nY", "v"), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_add_header with CR LF in the name");
  EXPECT_STATUS(ws_handshake_add_header(hs, "", "v"), WS_ERR_INVALID_ARGUMENT, "ws_handshake_add_header(\"\" name)");
  EXPECT_STATUS(ws_handshake_add_header(hs, NULL, "v"), WS_ERR_NULL, "ws_handshake_add_header(NULL name)");
  EXPECT_STATUS(ws_handshake_add_header(hs, "X-A", NULL), WS_ERR_NULL, "ws_handshake_add_header(NULL value)");

  EXPECT_STATUS(ws_handshake_accept(hs, "chat.v9"), WS_ERR_INVALID_ARGUMENT,
                "ws_handshake_accept with a subprotocol not offered");
  EXPECT_STATUS(ws_handshake_accept(hs, "a b"), WS_ERR_INVALID_ARGUMENT, "ws_handshake_accept(\"a b\")");
  CHECK(str_eq(ws_handshake_path(hs), "/room/7"), "the handle stays usable after a refused answer");
  static const int bad_status[] = {101, 99, 199, 600, 0, -1, 100};
  for (size_t i = 0; i < sizeof bad_status / sizeof bad_status[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "ws_handshake_reject(status %d)", bad_status[i]);
    EXPECT_STATUS(ws_handshake_reject(hs, bad_status[i], NULL, 0), WS_ERR_INVALID_ARGUMENT, what);
  }
  EXPECT_STATUS(ws_handshake_reject(hs, 403, NULL, 5), WS_ERR_NULL, "ws_handshake_reject(NULL body, len 5)");
  CHECK(str_eq(ws_handshake_method(hs), "GET"), "the handle is still usable");

  CHECK_STATUS(ws_handshake_set_user_data(hs, (void *)0x5eed), WS_STATUS_OK, "ws_handshake_set_user_data(0x5eed)");
  CHECK_STATUS(ws_handshake_add_header(hs, "X-Hello", "world"), WS_STATUS_OK, "ws_handshake_add_header(X-Hello: world)");
  CHECK_STATUS(ws_handshake_add_header(hs, "Set-Cookie", "sid=1; HttpOnly"), WS_STATUS_OK,
               "ws_handshake_add_header(Set-Cookie)");
  int st = ws_handshake_accept(hs, "chat.v2");
  CHECK(st == WS_STATUS_OK, "ws_handshake_accept(chat.v2) (not the server's preferred chat.v1) (%s)",
        st ? last_msg() : "ok");
  if (st == WS_STATUS_OK) h->answers_ok++;

  /* the handle is answered: every call is refused, none crashes */
  EXPECT_NULL_ERR(ws_handshake_method(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_method");
  EXPECT_NULL_ERR(ws_handshake_path(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_path");
  EXPECT_NULL_ERR(ws_handshake_query(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_query");
  EXPECT_NULL_ERR(ws_handshake_peer_address(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_peer_address");
  EXPECT_STATUS(ws_handshake_is_secure(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_is_secure");
  EXPECT_NULL_ERR(ws_handshake_header(hs, "Host"), WS_ERR_BAD_STATE, "answered: ws_handshake_header");
  EXPECT_STATUS(ws_handshake_header_count(hs), WS_ERR_BAD_STATE, "answered: ws_handshake_header_count");
  EXPECT_STATUS(ws_handshake_header_at(hs, 0, NULL, NULL), WS_ERR_BAD_STATE, "answered: ws_handshake_header_at");
  EXPECT_NULL_ERR(ws_handshake_subprotocol_at(hs, 0), WS_ERR_BAD_STATE, "answered: ws_handshake_subprotocol_at");
  EXPECT_STATUS(ws_handshake_add_header(hs, "X-Late", "1"), WS_ERR_BAD_STATE, "answered: ws_handshake_add_header");
  EXPECT_STATUS(ws_handshake_accept(hs, NULL), WS_ERR_BAD_STATE, "answered: ws_handshake_accept again");
  EXPECT_STATUS(ws_handshake_reject(hs, 403, NULL, 0), WS_ERR_BAD_STATE, "answered: ws_handshake_reject");
  EXPECT_STATUS(ws_handshake_set_user_data(hs, NULL), WS_ERR_BAD_STATE, "answered: ws_handshake_set_user_data");
}

static void on_handshake(void *ud, ws_handshake *hs) {
  hsrec *h = ud;
  pthread_mutex_lock(&h->r.mu);
  h->calls++;
  if (pthread_equal(pthread_self(), g_main)) h->on_main++;
  copy(h->method, sizeof h->method, ws_handshake_method(hs));
  copy(h->path, sizeof h->path, ws_handshake_path(hs));
  copy(h->query, sizeof h->query, ws_handshake_query(hs));
  copy(h->peer, sizeof h->peer, ws_handshake_peer_address(hs));
  hs_mode mode = h->mode;
  if (strcmp(h->path, "/deny") == 0) mode = HS_REJECT;
  switch (mode) {
    case HS_ACCEPT:
      if (ws_handshake_accept(hs, h->accept_with) == WS_STATUS_OK) h->answers_ok++;
      break;
    case HS_INSPECT:
      inspect_and_accept(h, hs);
      break;
    case HS_REJECT: {
      static const char body[] = "go away\n";
      if (ws_handshake_add_header(hs, "X-Reason", "policy") == WS_STATUS_OK &&
          ws_handshake_reject(hs, 403, (const uint8_t *)body, sizeof body - 1) == WS_STATUS_OK)
        h->answers_ok++;
      break;
    }
    case HS_REJECT_JSON: {
      static const char body[] = "{\"error\":\"login\"}";
      if (ws_handshake_add_header(hs, "Content-Type", "application/json") == WS_STATUS_OK &&
          ws_handshake_add_header(hs, "WWW-Authenticate", "Bearer") == WS_STATUS_OK &&
          ws_handshake_reject(hs, 401, (const uint8_t *)body, sizeof body - 1) == WS_STATUS_OK)
        h->answers_ok++;
      break;
    }
    case HS_HOLD:
      h->held = hs;
      break;
  }
  pthread_cond_broadcast(&h->r.cv);
  pthread_mutex_unlock(&h->r.mu);
}

static ws_server *hs_server(hsrec *h, ws_server_config *cfg) {
  ws_callbacks cb = CB;
  cb.on_handshake = on_handshake;
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, &cb, h);
  CHECK(s != NULL, "a server with on_handshake listens (%s)", s ? "ok" : last_msg());
  return s;
}

static void test_handshake_null(void) {
  note("ws_handshake_* with NULL");
  EXPECT_NULL_ERR(ws_handshake_method(NULL), WS_ERR_NULL, "ws_handshake_method(NULL)");
  EXPECT_NULL_ERR(ws_handshake_path(NULL), WS_ERR_NULL, "ws_handshake_path(NULL)");
  EXPECT_NULL_ERR(ws_handshake_query(NULL), WS_ERR_NULL, "ws_handshake_query(NULL)");
  EXPECT_NULL_ERR(ws_handshake_peer_address(NULL), WS_ERR_NULL, "ws_handshake_peer_address(NULL)");
  EXPECT_STATUS(ws_handshake_is_secure(NULL), WS_ERR_NULL, "ws_handshake_is_secure(NULL)");
  EXPECT_NULL_ERR(ws_handshake_header(NULL, "Host"), WS_ERR_NULL, "ws_handshake_header(NULL)");
  EXPECT_STATUS(ws_handshake_header_count(NULL), WS_ERR_NULL, "ws_handshake_header_count(NULL)");
  const char *n = NULL, *v = NULL;
  EXPECT_STATUS(ws_handshake_header_at(NULL, 0, &n, &v), WS_ERR_NULL, "ws_handshake_header_at(NULL)");
  EXPECT_NULL_ERR(ws_handshake_subprotocol_at(NULL, 0), WS_ERR_NULL, "ws_handshake_subprotocol_at(NULL)");
  EXPECT_STATUS(ws_handshake_add_header(NULL, "X-A", "b"), WS_ERR_NULL, "ws_handshake_add_header(NULL)");
  EXPECT_STATUS(ws_handshake_accept(NULL, NULL), WS_ERR_NULL, "ws_handshake_accept(NULL)");
  EXPECT_STATUS(ws_handshake_accept(NULL, "chat"), WS_ERR_NULL, "ws_handshake_accept(NULL, \"chat\")");
  EXPECT_STATUS(ws_handshake_reject(NULL, 403, NULL, 0), WS_ERR_NULL, "ws_handshake_reject(NULL)");
  EXPECT_STATUS(ws_handshake_set_user_data(NULL, NULL), WS_ERR_NULL, "ws_handshake_set_user_data(NULL)");
}

static void test_on_handshake_inspect(void) {
  note("on_handshake (thread dispatch): read the request, misuse the handle, add headers, accept with a subprotocol");
  hsrec h;
  hsrec_init(&h, "hs-server", HS_INSPECT);
  h.r.retain_open = 1;
  h.r.echo = 1;
  ws_server_config *scfg = ws_server_config_new();
  ws_server_config_add_subprotocol(scfg, "chat.v1"); /* the server's own choice would be chat.v1 */
  ws_server *srv = hs_server(&h, scfg);
  ws_server_config_free(scfg);
  rec cr;
  rec_init(&cr, "client");
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_add_subprotocol(cfg, "chat.v1");
  ws_client_config_add_subprotocol(cfg, "chat.v2");
  ws_client_config_set_origin(cfg, "https://app.example");
  ws_client_config_add_header(cfg, "X-Client", "hs");
  ws_client *cl = srv ? connect_path(ws_server_port(srv), "/room/7?user=ann&x=%20y", cfg, &cr) : NULL;
  ws_client_config_free(cfg);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "the client opens");
    CHECK(rec_get(&h.r, &h.calls) == 1 && rec_get(&h.r, &h.on_main) == 0,
          "on_handshake ran once, on the I/O thread (calls %d)", h.calls);
    CHECK(str_eq(ws_conn_subprotocol(c), "chat.v2"), "client: subprotocol chat.v2, the callback's choice (got \"%s\")",
          show(ws_conn_subprotocol(c)));
    CHECK(str_eq(ws_conn_header(c, "X-Hello"), "world"), "client: the added header X-Hello: world (got \"%s\")",
          show(ws_conn_header(c, "X-Hello")));
    CHECK(str_eq(ws_conn_header(c, "Set-Cookie"), "sid=1; HttpOnly"), "client: the added Set-Cookie");
    CHECK(rec_wait(&h.r, &h.r.n_open, 1, WAIT_MS) && h.r.n_conns == 1, "server on_open");
    ws_conn *s = h.r.n_conns ? h.r.conns[0] : NULL;
    CHECK(s && str_eq(ws_conn_subprotocol(s), "chat.v2"), "server: subprotocol chat.v2");
    CHECK(s && str_eq(ws_conn_peer_address(s), h.peer), "ws_handshake_peer_address == the connection's (%s)", h.peer);
    CHECK(s && ws_conn_get_user_data(s) == (void *)0x5eed,
          "the accepted connection starts with the handshake's user data (ws_handshake_set_user_data)");
    CHECK(echo_once(cl, &cr, "after on_handshake"), "messages flow");
    CHECK(close_normally(cl), "closed with 1000");
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&h.r);
  rec_destroy(&cr);
}

static void test_on_handshake_reject(void) {
  note("on_handshake rejects: status, headers and body reach the client");
  hsrec h;
  hsrec_init(&h, "hs-reject", HS_REJECT);
  ws_server *srv = hs_server(&h, NULL);
  int port = srv ? ws_server_port(srv) : 1;
  char req[1024], resp[4096];
  upgrade_request(req, sizeof req, port, "/private", NULL);
  long n = raw_exchange(port, req, resp, sizeof resp);
  CHECK(n > 0 && strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24) == 0, "raw: HTTP/1.1 403 Forbidden (got \"%s\")",
        first_line(resp));
  CHECK(http_has_header(resp, "X-Reason", "policy"), "raw: the added header X-Reason: policy");
  CHECK(http_has_header(resp, "Content-Length", "8"), "raw: Content-Length: 8");
  CHECK(http_has_header(resp, "Content-Type", "text/plain; charset=utf-8"), "raw: text/plain by default");
  CHECK(str_eq(http_body(resp), "go away\n"), "raw: the body is exactly \"go away\\n\" (got \"%s\")",
        show(http_body(resp)));
  CHECK(strstr(resp, "Sec-WebSocket-Accept") == NULL, "raw: no Sec-WebSocket-Accept in a rejection");
  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = connect_path(port, "/private", NULL, &cr);
  expect_handshake_failure("rejected by on_handshake", cl, &cr, "403");
  ws_client_free(cl);
  rec_destroy(&cr);
  CHECK(rec_get(&h.r, &h.calls) == 2 && rec_get(&h.r, &h.answers_ok) == 2 && rec_get(&h.r, &h.r.n_open) == 0,
        "two requests, two rejections, no connection");
  ws_server_free(srv);
  rec_destroy(&h.r);

  hsrec_init(&h, "hs-reject-json", HS_REJECT_JSON);
  srv = hs_server(&h, NULL);
  port = srv ? ws_server_port(srv) : 1;
  upgrade_request(req, sizeof req, port, "/api", NULL);
  raw_exchange(port, req, resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 401 ", 13) == 0, "raw: 401 (got \"%s\")", first_line(resp));
  CHECK(http_has_header(resp, "Content-Type", "application/json") &&
            !http_has_header(resp, "Content-Type", "text/plain; charset=utf-8"),
        "raw: the added Content-Type replaces text/plain");
  CHECK(http_has_header(resp, "WWW-Authenticate", "Bearer"), "raw: WWW-Authenticate: Bearer");
  CHECK(str_eq(http_body(resp), "{\"error\":\"login\"}"), "raw: the JSON body (got \"%s\")", show(http_body(resp)));
  ws_server_free(srv);
  rec_destroy(&h.r);
}

typedef struct {
  ws_handshake *hs;
  int add_status, accept_status;
} answer_job;

static void *answer_thread(void *arg) {
  answer_job *j = arg;
  j->add_status = ws_handshake_add_header(j->hs, "X-Later", "from another thread");
  j->accept_status = ws_handshake_accept(j->hs, NULL);
  return NULL;
}

static void test_on_handshake_later(void) {
  note("on_handshake answered later, from another thread; never answered");
  hsrec h;
  hsrec_init(&h, "hs-later", HS_HOLD);
  h.r.retain_open = 1;
  ws_server_config *scfg = ws_server_config_new();
  ws_server_config_add_subprotocol(scfg, "b");
  ws_server_config_add_subprotocol(scfg, "a");
  ws_server *srv = hs_server(&h, scfg);
  ws_server_config_free(scfg);
  rec cr;
  rec_init(&cr, "client");
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_add_subprotocol(cfg, "a");
  ws_client_config_add_subprotocol(cfg, "b");
  ws_client *cl = srv ? connect_path(ws_server_port(srv), "/later", cfg, &cr) : NULL;
  ws_client_config_free(cfg);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    CHECK(rec_wait(&h.r, &h.calls, 1, WAIT_MS), "on_handshake ran and kept the handle");
    EXPECT_STATUS(ws_conn_wait_open(c, 200), WS_ERR_TIMEOUT, "the client waits while the request is held");
    pthread_mutex_lock(&h.r.mu);
    ws_handshake *hs = h.held;
    pthread_mutex_unlock(&h.r.mu);
    CHECK(str_eq(ws_handshake_path(hs), "/later"), "the held handle is readable from the main thread (path %s)",
          show(ws_handshake_path(hs)));
    answer_job job = {hs, -100, -100};
    pthread_t t;
    pthread_create(&t, NULL, answer_thread, &job);
    pthread_join(t, NULL);
    CHECK(job.add_status == WS_STATUS_OK && job.accept_status == WS_STATUS_OK,
          "another thread adds a header and accepts (NULL: the server's choice) (%d, %d)", job.add_status,
          job.accept_status);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "the client opens");
    CHECK(str_eq(ws_conn_header(c, "X-Later"), "from another thread"), "client: X-Later from the other thread");
    CHECK(str_eq(ws_conn_subprotocol(c), "b"), "accept(NULL) used the server's preference b (got \"%s\")",
          show(ws_conn_subprotocol(c)));
    EXPECT_STATUS(ws_handshake_accept(hs, NULL), WS_ERR_BAD_STATE, "accepting the answered handle again");
    CHECK(close_normally(cl), "closed with 1000");
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&h.r);
  rec_destroy(&cr);

  /* never answered: the server gives up at its handshake timeout with 503 */
  hsrec_init(&h, "hs-never", HS_HOLD);
  scfg = ws_server_config_new();
  ws_server_config_set_handshake_timeout_ms(scfg, 500);
  srv = hs_server(&h, scfg);
  ws_server_config_free(scfg);
  rec_init(&cr, "client");
  long long t0 = now_ms();
  cl = srv ? connect_path(ws_server_port(srv), "/never", NULL, &cr) : NULL;
  expect_handshake_failure("never answered", cl, &cr, "503");
  long long took = now_ms() - t0;
  CHECK(took >= 400 && took < 4000, "the 503 came at the server's 500 ms handshake timeout (%lld ms)", took);
  pthread_mutex_lock(&h.r.mu);
  ws_handshake *hs = h.held;
  pthread_mutex_unlock(&h.r.mu);
  poison_last_error(WS_ERR_NOT_OPEN);
  int st = ws_handshake_accept(hs, NULL);
  CHECK(hs != NULL && (st == WS_ERR_NOT_OPEN || st == WS_ERR_BAD_STATE) && ws_last_error_code() == st,
        "accepting after the timeout -> WS_ERR_NOT_OPEN or WS_ERR_BAD_STATE (got %s: %s)", ws_status_name(st),
        last_msg());
  EXPECT_STATUS(ws_handshake_accept(hs, NULL), WS_ERR_BAD_STATE, "and then the handle is gone");
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&h.r);
  rec_destroy(&cr);
}

static int event_readable(int ms) {
  struct pollfd p = {ws_event_fd(), POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, ms);
  while (rc < 0 && errno == EINTR);
  return rc == 1;
}

/* Dispatches polled events until *field >= target (r's lock) or ms pass. */
static int pump(rec *r, const int *field, int target, int ms) {
  long long end = now_ms() + ms;
  while (rec_get(r, field) < target && now_ms() < end) {
    event_readable(20);
    ws_dispatch(0);
  }
  return rec_get(r, field) >= target;
}

static void test_on_handshake_poll(void) {
  note("on_handshake in WS_DISPATCH_POLL mode: runs inside ws_dispatch on the caller's thread");
  hsrec h;
  hsrec_init(&h, "hs-poll", HS_ACCEPT);
  h.accept_with = "p2";
  ws_server_config *scfg = ws_server_config_new();
  ws_server_config_set_dispatch(scfg, WS_DISPATCH_POLL);
  ws_server *srv = hs_server(&h, scfg);
  ws_server_config_free(scfg);
  int port = srv ? ws_server_port(srv) : 1;
  rec cr;
  rec_init(&cr, "client");
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_add_subprotocol(cfg, "p1");
  ws_client_config_add_subprotocol(cfg, "p2");
  ws_client *cl = connect_path(port, "/polled?q=1", cfg, &cr);
  ws_client_config_free(cfg);
  if (cl) {
    EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), 200), WS_ERR_TIMEOUT,
                  "without ws_dispatch the request waits");
    CHECK(rec_get(&h.r, &h.calls) == 0, "on_handshake has not run yet");
    CHECK(pump(&h.r, &h.r.n_open, 1, WAIT_MS), "ws_dispatch ran on_handshake, then on_open");
    CHECK(h.calls == 1 && h.on_main == 1, "on_handshake ran once, on the dispatching thread");
    CHECK(str_eq(h.method, "GET") && str_eq(h.path, "/polled") && str_eq(h.query, "q=1"),
          "it read GET /polled ? q=1 (got %s %s ? %s)", h.method, h.path, h.query);
    CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "the client opens");
    CHECK(str_eq(ws_conn_subprotocol(ws_client_conn(cl)), "p2"), "with the subprotocol accepted in the callback (p2)");
    CHECK_STATUS(ws_conn_close(ws_client_conn(cl), 1000, NULL), WS_STATUS_OK, "close");
    CHECK(pump(&h.r, &h.r.n_close, 1, WAIT_MS), "server on_close dispatched");
    CHECK_STATUS(ws_conn_wait_closed(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "closed");
  }
  ws_client_free(cl);
  rec_destroy(&cr);

  /* a rejection from inside ws_dispatch */
  rec_init(&cr, "denied");
  cl = connect_path(port, "/deny", NULL, &cr);
  CHECK(pump(&h.r, &h.calls, 2, WAIT_MS), "on_handshake dispatched for /deny");
  expect_handshake_failure("rejected inside ws_dispatch", cl, &cr, "403");
  ws_client_free(cl);
  rec_destroy(&cr);
  ws_server_free(srv);
  (void)ws_dispatch(0); /* events of the freed server are dropped */
  rec_destroy(&h.r);
}

/* ------------------------------------------------------------ proxy */

enum { PROXY_RELAY, PROXY_SILENT, PROXY_407 };

/* A tiny HTTP CONNECT proxy, one connection at a time, in a thread. */
typedef struct {
  int lfd, port, mode, stop[2];
  pthread_t thread;
  pthread_mutex_t mu;
  int n_conns;
  char request[2048]; /* the head of the last CONNECT request */
} proxy;

/* 1 when fd is readable (or closed) within ms, or the proxy is stopping. */
static int wait_readable(proxy *p, int fd, int ms, int *stopping) {
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {p->stop[0], POLLIN, 0}};
  int rc = poll(fds, 2, ms);
  *stopping = rc > 0 && fds[1].revents != 0;
  return rc > 0 && fds[0].revents != 0;
}

static void proxy_relay(proxy *p, int cfd, int sfd) {
  for (;;) {
    struct pollfd fds[3] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}, {p->stop[0], POLLIN, 0}};
    if (poll(fds, 3, 1000) < 0 && errno != EINTR) return;
    if (fds[2].revents) return;
    for (int i = 0; i < 2; i++) {
      if (!fds[i].revents) continue;
      char buf[16384];
      ssize_t n = recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0 || raw_send_all(fds[1 - i].fd, buf, (size_t)n) != 0) return;
    }
  }
}

static void proxy_serve(proxy *p, int cfd) {
  set_timeouts(cfd, WAIT_MS);
  char head[2048];
  raw_read_until(cfd, head, sizeof head, "\r\n\r\n");
  pthread_mutex_lock(&p->mu);
  snprintf(p->request, sizeof p->request, "%s", head);
  p->n_conns++;
  pthread_mutex_unlock(&p->mu);
  int stopping = 0;
  if (p->mode == PROXY_407) {
    raw_send_str(cfd, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                      "Content-Length: 0\r\n\r\n");
    return;
  }
  if (p->mode == PROXY_SILENT) {
    while (!wait_readable(p, cfd, 100, &stopping) && !stopping) {
    }
    return; /* the client gave up (EOF) or the test ends */
  }
  char host[256];
  int port = 0;
  if (sscanf(head, "CONNECT %255[^:]:%d HTTP/1.1", host, &port) != 2 || strcmp(host, "127.0.0.1") != 0) {
    raw_send_str(cfd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  int sfd = raw_connect(port, 0);
  if (sfd < 0) {
    raw_send_str(cfd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  if (raw_send_str(cfd, "HTTP/1.1 200 Connection established\r\n\r\n") == 0) proxy_relay(p, cfd, sfd);
  close(sfd);
}

static void *proxy_main(void *arg) {
  proxy *p = arg;
  for (;;) {
    int stopping = 0;
    if (!wait_readable(p, p->lfd, 1000, &stopping)) {
      if (stopping) break;
      continue;
    }
    int cfd = accept(p->lfd, NULL, NULL);
    if (cfd < 0) continue;
    proxy_serve(p, cfd);
    close(cfd);
  }
  return NULL;
}

static int proxy_start(proxy *p, int mode) {
  memset(p, 0, sizeof *p);
  p->mode = mode;
  pthread_mutex_init(&p->mu, NULL);
  p->lfd = raw_listen(&p->port, 0);
  if (p->lfd < 0 || pipe(p->stop) != 0) return -1;
  return pthread_create(&p->thread, NULL, proxy_main, p) == 0 ? 0 : -1;
}

static void proxy_stop(proxy *p) {
  (void)!write(p->stop[1], "x", 1);
  pthread_join(p->thread, NULL);
  close(p->stop[0]);
  close(p->stop[1]);
  close(p->lfd);
  pthread_mutex_destroy(&p->mu);
}

static int proxy_conns(proxy *p) {
  pthread_mutex_lock(&p->mu);
  int n = p->n_conns;
  pthread_mutex_unlock(&p->mu);
  return n;
}

/* An echo round trip to srv with cfg; 1 when it opened, echoed and closed. */
static int round_trip_via(const char *what, ws_server *srv, const ws_client_config *cfg) {
  rec cr;
  rec_init(&cr, what);
  ws_client *cl = connect_path(ws_server_port(srv), "/via", cfg, &cr);
  int ok = cl && ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) == WS_STATUS_OK && echo_once(cl, &cr, what) &&
           close_normally(cl);
  if (!ok) note("%s: %s / %s", what, last_msg(), cr.err_msg);
  ws_client_free(cl);
  rec_destroy(&cr);
  return ok;
}

static void test_proxy(void) {
  note("HTTP CONNECT proxies");
  ws_client_config *cfg = ws_client_config_new();
  EXPECT_STATUS(ws_client_config_set_proxy(NULL, ""), WS_ERR_NULL, "set_proxy(NULL cfg)");
  static const char *const bad[] = {"socks5://x",          "socks5://127.0.0.1:1080", "https://127.0.0.1:3128",
                                    "http://",             "http://127.0.0.1:99999",  "http://a b:1",
                                    "http://h:1/some/path", "http://h\r\n:1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "set_proxy(bad #%zu: %.30s)", i, bad[i]);
    EXPECT_STATUS(ws_client_config_set_proxy(cfg, bad[i]), WS_ERR_INVALID_ARGUMENT, what);
  }
  CHECK(contains(ws_last_error_message(), "proxy"), "the message is about the proxy (\"%s\")", last_msg());
  EXPECT_STATUS(ws_client_config_set_proxy(cfg, NULL), WS_STATUS_OK, "set_proxy(NULL) (from the environment)");
  EXPECT_STATUS(ws_client_config_set_proxy(cfg, ""), WS_STATUS_OK, "set_proxy(\"\") (direct)");
  EXPECT_STATUS(ws_client_config_set_proxy(cfg, "http://proxy.example"), WS_STATUS_OK,
                "set_proxy(http://proxy.example) (port 1080 by default)");

  rec sr;
  rec_init(&sr, "server");
  sr.echo = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  int sport = srv ? ws_server_port(srv) : 1;
  proxy px;
  CHECK(proxy_start(&px, PROXY_RELAY) == 0, "the test proxy runs on port %d", px.port);
  char url[128], want[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", px.port);
  snprintf(want, sizeof want, "CONNECT 127.0.0.1:%d HTTP/1.1\r\n", sport);

  CHECK_STATUS(ws_client_config_set_proxy(cfg, url), WS_STATUS_OK, "set_proxy(http://127.0.0.1:P)");
  CHECK(srv && round_trip_via("through the proxy", srv, cfg), "a round trip through the proxy");
  CHECK(proxy_conns(&px) == 1 && strncmp(px.request, want, strlen(want)) == 0,
        "the proxy got \"%s\" (got \"%s\")", first_line(want), first_line(px.request));
  char host_line[96];
  snprintf(host_line, sizeof host_line, "\r\nHost: 127.0.0.1:%d\r\n", sport);
  CHECK(strstr(px.request, host_line) != NULL, "with Host: 127.0.0.1:%d", sport);
  CHECK(strstr(px.request, "Proxy-Authorization") == NULL, "and no Proxy-Authorization");

  snprintf(url, sizeof url, "http://user:pass@127.0.0.1:%d/", px.port);
  CHECK_STATUS(ws_client_config_set_proxy(cfg, url), WS_STATUS_OK, "set_proxy(http://user:pass@127.0.0.1:P/)");
  CHECK(srv && round_trip_via("through the proxy with a password", srv, cfg), "a round trip with credentials");
  CHECK(proxy_conns(&px) == 2 && strstr(px.request, "\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n") != NULL,
        "the proxy got Proxy-Authorization: Basic base64(user:pass)");

  CHECK_STATUS(ws_client_config_set_proxy(cfg, ""), WS_STATUS_OK, "set_proxy(\"\")");
  CHECK(srv && round_trip_via("direct", srv, cfg), "\"\" connects directly");
  CHECK(proxy_conns(&px) == 2, "the proxy saw nothing");

  /* NULL: from the environment, as curl reads it */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", px.port);
  setenv("http_proxy", url, 1);
  CHECK_STATUS(ws_client_config_set_proxy(cfg, NULL), WS_STATUS_OK, "set_proxy(NULL)");
  CHECK(srv && round_trip_via("http_proxy from the environment", srv, cfg), "a round trip with http_proxy set");
  CHECK(proxy_conns(&px) == 3, "went through http_proxy (proxy connections: %d)", proxy_conns(&px));
  setenv("no_proxy", "localhost,127.0.0.1", 1);
  CHECK(srv && round_trip_via("no_proxy", srv, cfg), "a round trip with no_proxy naming 127.0.0.1");
  CHECK(proxy_conns(&px) == 3, "no_proxy: direct (proxy connections: %d)", proxy_conns(&px));
  unsetenv("no_proxy");
  CHECK_STATUS(ws_client_config_set_proxy(cfg, ""), WS_STATUS_OK, "set_proxy(\"\") with http_proxy set");
  CHECK(srv && round_trip_via("\"\" overrides the environment", srv, cfg), "\"\" ignores http_proxy");
  CHECK(proxy_conns(&px) == 3, "direct (proxy connections: %d)", proxy_conns(&px));
  setenv("http_proxy", "socks5://127.0.0.1:1", 1);
  ws_client_config_set_proxy(cfg, NULL);
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", sport);
  EXPECT_NULL_ERR(ws_client_connect(url, cfg, &CB, NULL), WS_ERR_INVALID_ARGUMENT,
                  "ws_client_connect with a malformed http_proxy");
  CHECK(contains(ws_last_error_message(), "http_proxy"), "the message names the variable (\"%s\")", last_msg());
  unsetenv("http_proxy");
  proxy_stop(&px);

  /* a proxy that refuses: WS_ERR_CONNECT naming its answer */
  CHECK(proxy_start(&px, PROXY_407) == 0, "a proxy answering 407");
  snprintf(url, sizeof url, "http://127.0.0.1:%d", px.port);
  ws_client_config_set_proxy(cfg, url);
  rec cr;
  rec_init(&cr, "407");
  ws_client *cl = connect_path(sport, "/", cfg, &cr);
  if (cl) {
    EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_CONNECT, "a proxy answering 407");
    rec_wait(&cr, &cr.n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.err_status == WS_ERR_CONNECT && contains(cr.err_msg, "407") &&
              cr.close_code == WS_CLOSED_ABNORMALLY,
          "on_error(WS_ERR_CONNECT, \"...407...\") + on_close(1006) (got \"%s\", %d)", cr.err_msg, cr.close_code);
  }
  ws_client_free(cl);
  rec_destroy(&cr);
  proxy_stop(&px);

  /* a proxy that never answers: the connect timeout */
  EXPECT_STATUS(ws_client_config_set_connect_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT, "set_connect_timeout_ms(0)");
  EXPECT_STATUS(ws_client_config_set_connect_timeout_ms(NULL, 300), WS_ERR_NULL, "set_connect_timeout_ms(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_handshake_timeout_ms(cfg, 0), WS_ERR_INVALID_ARGUMENT,
                "set_handshake_timeout_ms(0)");
  EXPECT_STATUS(ws_client_config_set_handshake_timeout_ms(NULL, 300), WS_ERR_NULL,
                "set_handshake_timeout_ms(NULL cfg)");
  CHECK(proxy_start(&px, PROXY_SILENT) == 0, "a proxy that never answers");
  snprintf(url, sizeof url, "http://127.0.0.1:%d", px.port);
  ws_client_config_set_proxy(cfg, url);
  CHECK_STATUS(ws_client_config_set_connect_timeout_ms(cfg, 300), WS_STATUS_OK, "set_connect_timeout_ms(300)");
  rec_init(&cr, "silent-proxy");
  long long t0 = now_ms();
  cl = connect_path(sport, "/", cfg, &cr);
  if (cl) {
    EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_TIMEOUT,
                  "a silent proxy with a 300 ms connect timeout");
    long long took = now_ms() - t0;
    CHECK(took >= 250 && took < 3000, "it timed out after about 300 ms (%lld ms)", took);
    rec_wait(&cr, &cr.n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.err_status == WS_ERR_TIMEOUT &&
              cr.close_code == WS_CLOSED_ABNORMALLY && contains(cr.err_msg, "300 ms"),
          "on_error(WS_ERR_TIMEOUT, \"...300 ms...\") + on_close(1006) (got %s \"%s\", %d)",
          ws_status_name(cr.err_status), cr.err_msg, cr.close_code);
    CHECK(proxy_conns(&px) == 1 && strncmp(px.request, "CONNECT ", 8) == 0, "the proxy did get the CONNECT");
  }
  ws_client_free(cl);
  rec_destroy(&cr);
  proxy_stop(&px);
  ws_client_config_free(cfg);

  /* the connect timeout covers only TCP; the handshake has its own */
  int lport;
  int lfd = raw_listen(&lport, 0);
  cfg = ws_client_config_new();
  ws_client_config_set_connect_timeout_ms(cfg, 300);
  CHECK_STATUS(ws_client_config_set_handshake_timeout_ms(cfg, 1500), WS_STATUS_OK, "set_handshake_timeout_ms(1500)");
  rec_init(&cr, "silent-server");
  t0 = now_ms();
  cl = connect_path(lport, "/", cfg, &cr);
  ws_client_config_free(cfg);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    EXPECT_STATUS(ws_conn_wait_open(c, 800), WS_ERR_TIMEOUT, "a silent server: no failure at the 300 ms connect timeout");
    CHECK(ws_conn_state(c) == WS_STATE_CONNECTING && rec_get(&cr, &cr.n_error) == 0, "still connecting after 800 ms");
    EXPECT_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_ERR_TIMEOUT, "then the 1500 ms handshake timeout");
    long long took = now_ms() - t0;
    CHECK(took >= 1400 && took < 4500, "after about 1500 ms (%lld ms)", took);
    rec_wait(&cr, &cr.n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && contains(cr.err_msg, "1500 ms"),
          "the message gives the handshake timeout (\"%s\")", cr.err_msg);
  }
  ws_client_free(cl);
  rec_destroy(&cr);
  close(lfd);
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ plain HTTP */

static void test_static_dir(void) {
  note("ws_server_config_set_static_dir: files on the WebSocket port");
  char dir[512];
  if (!CHECK(temp_dir_make(dir, sizeof dir, "static") == 0, "a temporary directory")) return;
  static const char index_html[] = "<!doctype html>\n<title>t</title>\n<p>hello from the static dir</p>\n";
  static const char a_txt[] = "plain text file\n";
  char sub[600], file[600];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  snprintf(file, sizeof file, "%s/a.txt", dir);
  int made = write_file_in(dir, "index.html", index_html, sizeof index_html - 1) == 0 &&
             write_file_in(dir, "a.txt", a_txt, sizeof a_txt - 1) == 0 &&
             write_file_in(dir, ".secret", "s", 1) == 0 && mkdir(sub, 0700) == 0 &&
             write_file_in(sub, "index.html", "sub index", 9) == 0;
  CHECK(made, "files written in %s", dir);

  ws_server_config *cfg = ws_server_config_new();
  EXPECT_STATUS(ws_server_config_set_static_dir(NULL, dir), WS_ERR_NULL, "set_static_dir(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_static_dir(cfg, file), WS_ERR_INVALID_ARGUMENT, "set_static_dir(a file)");
  CHECK(contains(ws_last_error_message(), "a.txt"), "the message names the path (\"%s\")", last_msg());
  char missing[600];
  snprintf(missing, sizeof missing, "%s/missing", dir);
  EXPECT_STATUS(ws_server_config_set_static_dir(cfg, missing), WS_ERR_INVALID_ARGUMENT,
                "set_static_dir(a missing directory)");
  EXPECT_STATUS(ws_server_config_set_static_dir(cfg, NULL), WS_STATUS_OK, "set_static_dir(NULL) (off)");
  EXPECT_STATUS(ws_server_config_set_static_dir(cfg, dir), WS_STATUS_OK, "set_static_dir(dir)");
  /* with a static directory the fixed response is not used */
  ws_server_config_set_http_response(cfg, 418, NULL, (const uint8_t *)"teapot", 6);
  rec sr;
  rec_init(&sr, "static-server");
  sr.echo = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  int port = srv ? ws_server_port(srv) : 1;
  char resp[8192];
  long n = raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(n > 0 && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "GET / -> 200 (got \"%s\")", first_line(resp));
  CHECK(str_eq(http_body(resp), index_html), "GET / returns index.html exactly");
  CHECK(http_has_header(resp, "Content-Type", "text/html; charset=utf-8"), "as text/html");
  char len[32];
  snprintf(len, sizeof len, "%zu", sizeof index_html - 1);
  CHECK(http_has_header(resp, "Content-Length", len), "with Content-Length: %s", len);
  raw_exchange(port, "GET /a.txt?v=2 HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && str_eq(http_body(resp), a_txt) &&
            http_has_header(resp, "Content-Type", "text/plain; charset=utf-8"),
        "GET /a.txt -> 200 text/plain with the file (got \"%s\")", first_line(resp));
  raw_exchange(port, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && str_eq(http_body(resp), "") && http_has_header(resp, "Content-Length", len),
        "HEAD / -> 200, the length, no body");
  raw_exchange(port, "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && str_eq(http_body(resp), "sub index"), "GET /sub/ -> its index.html");
  raw_exchange(port, "GET /nope.html HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 404 ", 13) == 0, "GET /nope.html -> 404 (got \"%s\")", first_line(resp));
  raw_exchange(port, "GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 404 ", 13) == 0, "GET /.secret (hidden) -> 404 (got \"%s\")", first_line(resp));
  raw_exchange(port, "GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) != 0 && !contains(resp, "root:"),
        "GET /../../../../etc/passwd does not leave the directory (got \"%s\")", first_line(resp));
  raw_exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 405 ", 13) == 0, "POST / -> 405 (got \"%s\")", first_line(resp));

  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = connect_path(port, "/", NULL, &cr);
  CHECK(cl && ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) == WS_STATUS_OK && echo_once(cl, &cr, "static") &&
            close_normally(cl),
        "a WebSocket client still works on the same port and path");
  ws_client_free(cl);
  rec_destroy(&cr);
  ws_server_free(srv);
  rec_destroy(&sr);
  CHECK(temp_dir_remove(dir) == 0, "removed %s", dir);
}

static void test_http_response(void) {
  note("ws_server_config_set_http_response: a fixed answer to plain HTTP");
  ws_server_config *cfg = ws_server_config_new();
  static const int bad[] = {101, 99, 600, -1, 0, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "set_http_response(status %d)", bad[i]);
    EXPECT_STATUS(ws_server_config_set_http_response(cfg, bad[i], NULL, NULL, 0), WS_ERR_INVALID_ARGUMENT, what);
  }
  EXPECT_STATUS(ws_server_config_set_http_response(NULL, 200, NULL, NULL, 0), WS_ERR_NULL,
                "set_http_response(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_http_response(cfg, 200, NULL, NULL, 2), WS_ERR_NULL,
                "set_http_response(NULL body, len 2)");
  EXPECT_STATUS(ws_server_config_set_http_response(cfg, 200, "text/plain\r\nX-Evil: 1", NULL, 0),
                WS_ERR_INVALID_ARGUMENT, "set_http_response with CR LF in the content type");
  EXPECT_STATUS(ws_server_config_set_http_response(cfg, 200, "text/plain", (const uint8_t *)"hi", 2), WS_STATUS_OK,
                "set_http_response(200, text/plain, \"hi\")");
  rec sr;
  rec_init(&sr, "http-server");
  sr.echo = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  int port = srv ? ws_server_port(srv) : 1;
  char resp[4096];
  raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0 && str_eq(http_body(resp), "hi"),
        "GET / -> 200 \"hi\" (got \"%s\" \"%s\")", first_line(resp), show(http_body(resp)));
  CHECK(http_has_header(resp, "Content-Type", "text/plain") && http_has_header(resp, "Content-Length", "2"),
        "Content-Type: text/plain, Content-Length: 2");
  raw_exchange(port, "GET /any/path?x HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && str_eq(http_body(resp), "hi"), "any path gets the same answer");
  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = connect_path(port, "/", NULL, &cr);
  CHECK(cl && ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) == WS_STATUS_OK && echo_once(cl, &cr, "http") &&
            close_normally(cl),
        "a WebSocket client still works on the same port");
  ws_client_free(cl);
  rec_destroy(&cr);
  ws_server_free(srv);

  /* NULL content type: text/plain; charset=utf-8; another status */
  static const char body[] = "try /ws";
  CHECK_STATUS(ws_server_config_set_http_response(cfg, 404, NULL, (const uint8_t *)body, sizeof body - 1),
               WS_STATUS_OK, "set_http_response(404, NULL, \"try /ws\")");
  srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  port = srv ? ws_server_port(srv) : 1;
  raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 404 ", 13) == 0 && str_eq(http_body(resp), body) &&
            http_has_header(resp, "Content-Type", "text/plain; charset=utf-8"),
        "GET / -> 404 text/plain; charset=utf-8 \"try /ws\" (got \"%s\")", first_line(resp));
  ws_server_free(srv);
  rec_destroy(&sr);

  /* by default: 400 */
  srv = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  raw_exchange(srv ? ws_server_port(srv) : 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0, "without either setting, plain GET -> 400 (got \"%s\")",
        first_line(resp));
  ws_server_free(srv);
}

/* ------------------------------------------------------------ main */

/* ws_conn_request_text / ws_conn_response_text: the same bytes at both ends
 * (one sent, the other received), the client's extra headers among them;
 * NULL without ws_*_config_set_keep_handshake_text. */
static void test_handshake_text(void) {
  note("ws_conn_request_text, ws_conn_response_text on both ends");
  for (int keep = 0; keep <= 1; keep++) {
    rec sr, cr;
    rec_init(&sr, "server");
    rec_init(&cr, "client");
    sr.retain_open = 1;
    ws_server_config *scfg = ws_server_config_new();
    CHECK_STATUS(ws_server_config_set_keep_handshake_text(scfg, keep), WS_STATUS_OK, "server keep_handshake_text");
    EXPECT_STATUS(ws_server_config_set_keep_handshake_text(NULL, 1), WS_ERR_NULL, "server setter, NULL config");
    ws_server *srv = ws_server_listen("127.0.0.1", 0, scfg, &CB, &sr);
    ws_server_config_free(scfg);
    ws_client_config *cfg = ws_client_config_new();
    CHECK_STATUS(ws_client_config_set_keep_handshake_text(cfg, keep), WS_STATUS_OK, "client keep_handshake_text");
    EXPECT_STATUS(ws_client_config_set_keep_handshake_text(NULL, 1), WS_ERR_NULL, "client setter, NULL config");
    ws_client_config_add_header(cfg, "X-Client", "c1");
    ws_client *cl = connect_path(srv ? ws_server_port(srv) : 1, "/t?q=1", cfg, &cr);
    ws_client_config_free(cfg);
    if (cl && ws_conn_wait_open(ws_client_conn(cl), WAIT_MS) == WS_STATUS_OK && rec_wait(&sr, &sr.n_open, 1, WAIT_MS)) {
      ws_conn *c = ws_client_conn(cl), *s = sr.conns[0];
      const char *creq = ws_conn_request_text(c), *sreq = ws_conn_request_text(s);
      const char *cres = ws_conn_response_text(c), *sres = ws_conn_response_text(s);
      if (keep) {
        CHECK(creq && sreq && strcmp(creq, sreq) == 0, "the request the client sent is the one the server received");
        CHECK(creq && strncmp(creq, "GET /t?q=1 HTTP/1.1\r\n", 21) == 0 && contains(creq, "\r\nX-Client: c1\r\n") &&
                  strcmp(creq + strlen(creq) - 4, "\r\n\r\n") == 0,
              "it has the request line, the added header and the blank line (\"%s\")", show(creq));
        CHECK(cres && sres && strcmp(cres, sres) == 0, "the response the server sent is the one the client received");
        CHECK(cres && strncmp(cres, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0 &&
                  contains(cres, "Sec-WebSocket-Accept: ") && strcmp(cres + strlen(cres) - 4, "\r\n\r\n") == 0,
              "it is the 101 with its headers (\"%s\")", show(cres));
      } else {
        CHECK(!creq && !sreq && !cres && !sres, "not kept by default: NULL on both ends");
      }
      CHECK(!ws_conn_request_text(NULL) && !ws_conn_response_text(NULL), "NULL for a NULL connection");
      close_normally(cl);
    } else {
      CHECK(0, "the pair opens (%s)", last_msg());
    }
    ws_client_free(cl);
    ws_server_free(srv);
    rec_destroy(&sr);
    rec_destroy(&cr);
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_main = pthread_self();
  CB = rec_callbacks();
  unsetenv("http_proxy");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  test_subprotocol_setters();
  test_subprotocols();
  test_origin();
  test_conn_headers();
  test_handshake_text();
  test_handshake_null();
  test_on_handshake_inspect();
  test_on_handshake_reject();
  test_on_handshake_later();
  test_on_handshake_poll();
  test_proxy();
  test_static_dir();
  test_http_response();
  return check_summary();
}
