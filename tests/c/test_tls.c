/*
 * test_tls: wss:// through the C API, over loopback sockets. Certificates are
 * made at run time with the openssl command in a temporary directory: a CA, a
 * second unrelated CA, a server certificate for localhost / 127.0.0.1, client
 * certificates, a certificate for another name, an expired one and one not
 * valid yet, and a second server certificate for localhost / 127.0.0.1 signed
 * by the second CA.
 *
 * Covers every TLS setter (with its NULL and error paths), ws_server_is_secure,
 * ws_conn_is_secure, ws_handshake_is_secure, round trips with the CA from a
 * file and from memory, the failures a client reports (untrusted CA, wrong
 * name, expired, not yet valid, plain server, refused client certificate) as
 * WS_ERR_TLS + close code 1015, mutual TLS (required and optional),
 * ws_client_config_dangerous_disable_tls_verification, certificates replaced
 * on a running server (ws_server_reload_tls_*: refused pairs change nothing,
 * open connections keep theirs), and certificates by server name (SNI).
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

static ws_callbacks CB;  /* the recorder's callbacks */
static char g_dir[512];  /* the temporary directory holding the certificates */

/* ------------------------------------------------------------ helpers */

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static int contains(const char *haystack, const char *needle) {
  return haystack && needle && strstr(haystack, needle) != NULL;
}

/* The path of a file in the certificate directory (a ring of static buffers,
 * so a few may be used in one call). */
static const char *F(const char *name) {
  static char ring[8][700];
  static int next;
  char *p = ring[next++ % 8];
  snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
  return p;
}

/* A PEM file's text, read once and kept until free_pems(). */
typedef struct {
  const char *name;
  char *text;
  size_t len;
} pem_file;

static pem_file g_pems[] = {{"ca.pem", NULL, 0},     {"ca2.pem", NULL, 0},    {"server.pem", NULL, 0},
                            {"server.key", NULL, 0}, {"client.pem", NULL, 0}, {"client.key", NULL, 0},
                            {"server2.pem", NULL, 0}, {"server2.key", NULL, 0}, {"other.pem", NULL, 0},
                            {"other.key", NULL, 0}};

static const pem_file *PEM(const char *name) {
  for (size_t i = 0; i < sizeof g_pems / sizeof g_pems[0]; i++)
    if (strcmp(g_pems[i].name, name) == 0) {
      if (!g_pems[i].text) g_pems[i].text = read_file_in(g_dir, name, &g_pems[i].len);
      return &g_pems[i];
    }
  return NULL;
}

static const uint8_t *pem_data(const char *name) {
  const pem_file *p = PEM(name);
  return p && p->text ? (const uint8_t *)p->text : (const uint8_t *)"";
}

static size_t pem_len(const char *name) {
  const pem_file *p = PEM(name);
  return p && p->text ? p->len : 0;
}

static void free_pems(void) {
  for (size_t i = 0; i < sizeof g_pems / sizeof g_pems[0]; i++) {
    free(g_pems[i].text);
    g_pems[i].text = NULL;
  }
}

/* Makes every certificate the tests use; 0 on success. */
static int make_certificates(void) {
  static const char script[] =
      "set -e\n"
      "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
      "ca() {\n"
      "  openssl req -x509 $ec -keyout $1.key -out $1.pem -days 3650 -subj \"/CN=$2\" \\\n"
      "    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'\n"
      "}\n"
      "leaf() { # name, common name, CA, serial, extensions\n"
      "  openssl req -new $ec -keyout $1.key -out $1.csr -subj \"/CN=$2\"\n"
      "  printf '%b' \"$5\" > $1.ext\n"
      "  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -set_serial $4 -days 3650 -extfile $1.ext -out $1.pem\n"
      "}\n"
      "ca ca 'libwebsocket test CA'\n"
      "ca ca2 'unrelated test CA'\n"
      "srv='basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n'\n"
      "cli='basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n'\n"
      "leaf server localhost ca 2 \"${srv}subjectAltName=DNS:localhost,IP:127.0.0.1\\n\"\n"
      "leaf other other.example ca 3 \"${srv}subjectAltName=DNS:other.example\\n\"\n"
      "leaf server2 localhost ca2 6 \"${srv}subjectAltName=DNS:localhost,IP:127.0.0.1\\n\"\n"
      "leaf client 'test client' ca 4 \"$cli\"\n"
      "leaf client2 'client of the other CA' ca2 5 \"$cli\"\n"
      "openssl req -x509 $ec -keyout rogue.key -out rogue.pem -days 3650 -subj '/CN=self-signed client'\n"
      /* openssl ca can set any validity dates (x509 -req cannot in 3.0). */
      "cat > ca.cnf <<'EOF'\n"
      "[ca]\n"
      "default_ca = d\n"
      "[d]\n"
      "database = index.txt\n"
      "new_certs_dir = .\n"
      "serial = serial\n"
      "default_md = sha256\n"
      "policy = p\n"
      "unique_subject = no\n"
      "[p]\n"
      "commonName = supplied\n"
      "[x]\n"
      "basicConstraints = CA:FALSE\n"
      "extendedKeyUsage = serverAuth\n"
      "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
      "EOF\n"
      ": > index.txt\n"
      "echo 10 > serial\n"
      "openssl req -new $ec -keyout dated.key -out dated.csr -subj /CN=localhost\n"
      "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in dated.csr -out expired.pem \\\n"
      "  -startdate 20200101000000Z -enddate 20200102000000Z -extensions x -notext\n"
      "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in dated.csr -out future.pem \\\n"
      "  -startdate 20900101000000Z -enddate 20910101000000Z -extensions x -notext\n"
      "openssl ec -in server.key -out server-sec1.key\n"
      "grep -q 'BEGIN EC PRIVATE KEY' server-sec1.key\n"
      "printf 'hello, no certificate in here\\n' > nocert.pem\n";
  if (write_file_in(g_dir, "gen.sh", script, sizeof script - 1) != 0) return -1;
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "cd '%s' && sh ./gen.sh > gen.log 2>&1", g_dir);
  int rc = system(cmd);
  if (rc != 0) {
    size_t n = 0;
    char *log = read_file_in(g_dir, "gen.log", &n);
    note("openssl failed (%d); its output:\n%s", rc, log ? log : "(none)");
    free(log);
    return -1;
  }
  return 0;
}

static int msg_is(rec *r, int type, const void *data, size_t len) {
  pthread_mutex_lock(&r->mu);
  int ok = r->last_type == type && r->msg_len == len && (len == 0 || memcmp(r->msg, data, len) == 0);
  pthread_mutex_unlock(&r->mu);
  return ok;
}

/* A server config with the certificate and key in these files (in g_dir). */
static ws_server_config *cert_config(const char *cert, const char *key) {
  ws_server_config *cfg = ws_server_config_new();
  int st = ws_server_config_set_tls_cert_file(cfg, F(cert), F(key));
  CHECK(st == WS_STATUS_OK, "set_tls_cert_file(%s, %s) (%s)", cert, key, st ? last_msg() : "ok");
  return cfg;
}

/* A TLS server with this certificate; retains its connections, echoes. */
static ws_server *tls_server(const char *cert, const char *key, rec *r) {
  ws_server_config *cfg = cert_config(cert, key);
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, &CB, r);
  ws_server_config_free(cfg);
  CHECK(s != NULL, "a TLS server with %s listens (%s)", cert, s ? "ok" : last_msg());
  return s;
}

/* A client config trusting only our CA (file), system roots off. */
static ws_client_config *ca_client_config(void) {
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_set_tls_system_roots(cfg, 0);
  int st = ws_client_config_add_tls_ca_file(cfg, F("ca.pem"));
  CHECK(st == WS_STATUS_OK, "add_tls_ca_file(ca.pem) (%s)", st ? last_msg() : "ok");
  return cfg;
}

/* When a host name (not an IP literal) was last looked up; see main(). */
static long long g_name_lookup_ms = -1;

static ws_client *wss_connect(const char *host, const ws_server *s, const char *path, const ws_client_config *cfg,
                              rec *r) {
  if (strcmp(host, "127.0.0.1") != 0) g_name_lookup_ms = now_ms();
  char url[256];
  snprintf(url, sizeof url, "wss://%s:%d%s", host, s ? ws_server_port(s) : 1, path);
  ws_client *c = ws_client_connect(url, cfg, &CB, r);
  CHECK(c != NULL, "ws_client_connect(\"%s\") returns a client (%s)", url, c ? "ok" : last_msg());
  return c;
}

/* Text and binary echo over an open connection, then a normal close by the
 * client; checks both ends report TLS. */
static void round_trip(const char *what, ws_server *srv, rec *sr, ws_client *cl, rec *cr) {
  ws_conn *c = ws_client_conn(cl);
  char d[256];
  snprintf(d, sizeof d, "%s: ws_conn_wait_open", what);
  if (!CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, d)) return;
  CHECK(ws_conn_is_secure(c) == 1, "%s: ws_conn_is_secure(client) == 1", what);
  CHECK(ws_server_is_secure(srv) == 1, "%s: ws_server_is_secure == 1", what);
  CHECK(rec_wait(sr, &sr->n_open, 1, WAIT_MS) && sr->n_conns == 1, "%s: server on_open", what);
  ws_conn *sc = sr->n_conns ? sr->conns[0] : NULL;
  CHECK(sc && ws_conn_is_secure(sc) == 1, "%s: ws_conn_is_secure(server side) == 1", what);
  const char *accept = ws_conn_header(c, "Sec-WebSocket-Accept");
  CHECK(accept && strlen(accept) == 28, "%s: the client read the 101's Sec-WebSocket-Accept through TLS (\"%s\")",
        what, accept ? accept : "(NULL)");

  static const char text[] = "hello over TLS, h\xc3\xa9llo";
  CHECK_STATUS(ws_conn_send_text(c, text, sizeof text - 1), WS_STATUS_OK, "send text");
  CHECK(rec_wait(cr, &cr->n_msg, 1, WAIT_MS) && msg_is(cr, WS_MESSAGE_TEXT, text, sizeof text - 1),
        "%s: the text message came back intact", what);
  size_t n = 70000; /* several TLS records, 64-bit frame length */
  uint8_t *bin = malloc(n);
  for (size_t i = 0; i < n; i++) bin[i] = (uint8_t)(i * 7 + 3);
  CHECK_STATUS(ws_conn_send_binary(c, bin, n), WS_STATUS_OK, "send 70000 binary bytes");
  CHECK(rec_wait(cr, &cr->n_msg, 2, WAIT_MS) && msg_is(cr, WS_MESSAGE_BINARY, bin, n),
        "%s: the 70000-byte binary message came back intact", what);
  free(bin);

  CHECK_STATUS(ws_conn_close(c, 1000, "done"), WS_STATUS_OK, "close(1000)");
  CHECK_STATUS(ws_conn_wait_closed(c, WAIT_MS), WS_STATUS_OK, "wait_closed");
  rec_wait(cr, &cr->n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
  CHECK(rec_wait(cr, &cr->n_close, 1, WAIT_MS) && cr->close_code == 1000 && ws_conn_close_code(c) == 1000,
        "%s: client on_close(1000) (got %d)", what, cr->close_code);
  rec_wait(sr, &sr->n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
  CHECK(rec_wait(sr, &sr->n_close, 1, WAIT_MS) && sr->close_code == 1000 && str_eq(sr->close_reason, "done"),
        "%s: server on_close(1000, \"done\") (got %d \"%s\")", what, sr->close_code, sr->close_reason);
  CHECK(cr->n_error == 0 && sr->n_error == 0, "%s: no on_error on either side (client: \"%s\")", what, cr->err_msg);
}

/* The client's connection must fail its TLS handshake: WS_ERR_TLS with a
 * message containing `needle`, then on_close(1015); the server application
 * never sees a connection. */
static void expect_tls_failure(const char *what, ws_server *srv, rec *sr, ws_client *cl, rec *cr,
                               const char *needle) {
  ws_conn *c = ws_client_conn(cl);
  char d[256];
  snprintf(d, sizeof d, "%s: ws_conn_wait_open", what);
  EXPECT_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_ERR_TLS, d);
  CHECK(contains(ws_last_error_message(), needle), "%s: the wait's message names the reason (\"%s\" in \"%s\")", what,
        needle, last_msg());
  CHECK(rec_wait(cr, &cr->n_close, 1, WAIT_MS), "%s: on_close is delivered", what);
  CHECK(cr->n_error == 1 && cr->err_status == WS_ERR_TLS, "%s: on_error(WS_ERR_TLS) (got %s)", what,
        ws_status_name(cr->err_status));
  CHECK(contains(cr->err_msg, needle), "%s: on_error's message names the reason (\"%s\" in \"%s\")", what, needle,
        cr->err_msg);
  CHECK(cr->error_before_close, "%s: on_error before on_close", what);
  CHECK(cr->close_code == WS_TLS_HANDSHAKE_FAIL && ws_conn_close_code(c) == WS_TLS_HANDSHAKE_FAIL,
        "%s: on_close(1015 WS_TLS_HANDSHAKE_FAIL) (got %d, ws_conn_close_code %d)", what, cr->close_code,
        ws_conn_close_code(c));
  CHECK(cr->n_open == 0 && ws_conn_state(c) == WS_STATE_CLOSED, "%s: never opened, state CLOSED", what);
  if (srv) {
    sleep_ms(50);
    CHECK(rec_get(sr, &sr->n_open) == 0 && ws_server_connection_count(srv) == 0,
          "%s: the server application saw no connection", what);
  }
}

/* ------------------------------------------------------------ setters */

static void test_server_setters(void) {
  note("server TLS setters: NULL and error paths");
  ws_server_config *cfg = ws_server_config_new();
  const char *cert = F("server.pem"), *key = F("server.key");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(NULL, cert, key), WS_ERR_NULL, "set_tls_cert_file(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, NULL, key), WS_ERR_NULL, "set_tls_cert_file(NULL cert)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, NULL), WS_ERR_NULL, "set_tls_cert_file(NULL key)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, F("missing.pem"), key), WS_ERR_TLS,
                "set_tls_cert_file(missing certificate file)");
  CHECK(contains(ws_last_error_message(), "missing.pem"), "the message names the missing file (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, F("missing.key")), WS_ERR_TLS,
                "set_tls_cert_file(missing key file)");
  CHECK(contains(ws_last_error_message(), "missing.key"), "the message names the missing key file (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, F("nocert.pem"), key), WS_ERR_TLS,
                "set_tls_cert_file(a file with no certificate)");
  CHECK(contains(ws_last_error_message(), "no certificate"), "the message says there is no certificate (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, key, key), WS_ERR_TLS,
                "set_tls_cert_file(a key file as the certificate)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, cert), WS_ERR_TLS,
                "set_tls_cert_file(a certificate as the key)");
  CHECK(contains(ws_last_error_message(), "no key"), "the message says there is no key (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, F("client.key")), WS_ERR_TLS,
                "set_tls_cert_file(a key that does not match the certificate)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, g_dir, key), WS_ERR_TLS,
                "set_tls_cert_file(a directory as the certificate)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, F("server-sec1.key")), WS_STATUS_OK,
                "set_tls_cert_file with a SEC1 (EC PRIVATE KEY) key");
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(cfg, cert, key), WS_STATUS_OK,
                "set_tls_cert_file with a PKCS#8 key");

  const uint8_t *cp = pem_data("server.pem"), *kp = pem_data("server.key");
  size_t cl = pem_len("server.pem"), kl = pem_len("server.key");
  CHECK(cl > 100 && kl > 100, "read server.pem (%zu bytes) and server.key (%zu bytes)", cl, kl);
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(NULL, cp, cl, kp, kl), WS_ERR_NULL, "set_tls_cert_pem(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, NULL, cl, kp, kl), WS_ERR_NULL,
                "set_tls_cert_pem(NULL cert, len > 0)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, cl, NULL, kl), WS_ERR_NULL,
                "set_tls_cert_pem(NULL key, len > 0)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, 0, kp, kl), WS_ERR_TLS, "set_tls_cert_pem(empty cert)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, NULL, 0, NULL, 0), WS_ERR_TLS,
                "set_tls_cert_pem(NULL, 0, NULL, 0)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, cl, kp, 0), WS_ERR_TLS, "set_tls_cert_pem(empty key)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, (const uint8_t *)"hello", 5, kp, kl), WS_ERR_TLS,
                "set_tls_cert_pem(text without a certificate)");
  static const char bad_b64[] = "-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n";
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, (const uint8_t *)bad_b64, sizeof bad_b64 - 1, kp, kl),
                WS_ERR_TLS, "set_tls_cert_pem(a malformed PEM block)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, cl / 2, kp, kl), WS_ERR_TLS,
                "set_tls_cert_pem(cert_len cutting the PEM in half: the length is respected)");
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, cl, pem_data("client.key"), pem_len("client.key")),
                WS_ERR_TLS, "set_tls_cert_pem(a key that does not match the certificate)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_set_tls_cert_pem(cfg, cp, cl, kp, kl), WS_STATUS_OK, "set_tls_cert_pem(good)");

  const char *ca = F("ca.pem");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(NULL, ca), WS_ERR_NULL, "add_tls_client_ca_file(NULL cfg)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(cfg, NULL), WS_ERR_NULL, "add_tls_client_ca_file(NULL path)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(cfg, F("missing-ca.pem")), WS_ERR_TLS,
                "add_tls_client_ca_file(missing file)");
  CHECK(contains(ws_last_error_message(), "missing-ca.pem"), "the message names the file (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(cfg, F("nocert.pem")), WS_ERR_TLS,
                "add_tls_client_ca_file(a file with no certificate)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(cfg, F("ca.key")), WS_ERR_TLS,
                "add_tls_client_ca_file(a key file)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_file(cfg, ca), WS_STATUS_OK, "add_tls_client_ca_file(ca.pem)");

  EXPECT_STATUS(ws_server_config_add_tls_client_ca_pem(NULL, pem_data("ca.pem"), pem_len("ca.pem")), WS_ERR_NULL,
                "add_tls_client_ca_pem(NULL cfg)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, NULL, 10), WS_ERR_NULL,
                "add_tls_client_ca_pem(NULL, len > 0)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, NULL, 0), WS_ERR_TLS, "add_tls_client_ca_pem(empty)");
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, (const uint8_t *)"no pem", 6), WS_ERR_TLS,
                "add_tls_client_ca_pem(text without a certificate)");
  CHECK(contains(ws_last_error_message(), "no certificate"), "the message says there is no certificate (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, pem_data("ca2.pem"), pem_len("ca2.pem")), WS_STATUS_OK,
                "add_tls_client_ca_pem(ca2.pem)");

  EXPECT_STATUS(ws_server_config_set_tls_client_cert_optional(NULL, 1), WS_ERR_NULL,
                "set_tls_client_cert_optional(NULL cfg)");
  EXPECT_STATUS(ws_server_config_set_tls_client_cert_optional(cfg, 1), WS_STATUS_OK,
                "set_tls_client_cert_optional(1)");
  EXPECT_STATUS(ws_server_config_set_tls_client_cert_optional(cfg, 0), WS_STATUS_OK,
                "set_tls_client_cert_optional(0)");
  ws_server_config_free(cfg);

  /* A client CA without a server certificate cannot work. */
  cfg = ws_server_config_new();
  ws_server_config_add_tls_client_ca_file(cfg, ca);
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, cfg, &CB, NULL), WS_ERR_TLS,
                  "ws_server_listen with a client CA but no certificate");
  CHECK(contains(ws_last_error_message(), "certificate"), "the message says what is missing (\"%s\")", last_msg());
  ws_server_config_free(cfg);

  /* Without any TLS setting the server is plain. */
  ws_server *plain = ws_server_listen("127.0.0.1", 0, NULL, &CB, NULL);
  CHECK(plain && ws_server_is_secure(plain) == 0, "a server without a certificate: ws_server_is_secure == 0");
  ws_server_free(plain);
  EXPECT_STATUS(ws_server_is_secure(NULL), WS_ERR_NULL, "ws_server_is_secure(NULL)");
  EXPECT_STATUS(ws_conn_is_secure(NULL), WS_ERR_NULL, "ws_conn_is_secure(NULL)");
}

static void test_client_setters(void) {
  note("client TLS setters: NULL and error paths");
  ws_client_config *cfg = ws_client_config_new();
  const char *ca = F("ca.pem");
  EXPECT_STATUS(ws_client_config_add_tls_ca_file(NULL, ca), WS_ERR_NULL, "add_tls_ca_file(NULL cfg)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_file(cfg, NULL), WS_ERR_NULL, "add_tls_ca_file(NULL path)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_file(cfg, F("missing-ca.pem")), WS_ERR_TLS,
                "add_tls_ca_file(missing file)");
  CHECK(contains(ws_last_error_message(), "missing-ca.pem"), "the message names the file (\"%s\")", last_msg());
  EXPECT_STATUS(ws_client_config_add_tls_ca_file(cfg, F("nocert.pem")), WS_ERR_TLS,
                "add_tls_ca_file(a file with no certificate)");
  CHECK(contains(ws_last_error_message(), "no certificate"), "the message says there is no certificate (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_client_config_add_tls_ca_file(cfg, ca), WS_STATUS_OK, "add_tls_ca_file(ca.pem)");

  EXPECT_STATUS(ws_client_config_add_tls_ca_pem(NULL, pem_data("ca.pem"), pem_len("ca.pem")), WS_ERR_NULL,
                "add_tls_ca_pem(NULL cfg)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_pem(cfg, NULL, 3), WS_ERR_NULL, "add_tls_ca_pem(NULL, len > 0)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_pem(cfg, NULL, 0), WS_ERR_TLS, "add_tls_ca_pem(empty)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_pem(cfg, pem_data("server.key"), pem_len("server.key")), WS_ERR_TLS,
                "add_tls_ca_pem(a private key)");
  EXPECT_STATUS(ws_client_config_add_tls_ca_pem(cfg, pem_data("ca2.pem"), pem_len("ca2.pem")), WS_STATUS_OK,
                "add_tls_ca_pem(ca2.pem)");

  EXPECT_STATUS(ws_client_config_set_tls_system_roots(NULL, 0), WS_ERR_NULL, "set_tls_system_roots(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_tls_system_roots(cfg, 0), WS_STATUS_OK, "set_tls_system_roots(0)");
  EXPECT_STATUS(ws_client_config_set_tls_system_roots(cfg, 1), WS_STATUS_OK, "set_tls_system_roots(1)");

  const char *cert = F("client.pem"), *key = F("client.key");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(NULL, cert, key), WS_ERR_NULL,
                "set_tls_client_cert_file(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, NULL, key), WS_ERR_NULL,
                "set_tls_client_cert_file(NULL cert)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, cert, NULL), WS_ERR_NULL,
                "set_tls_client_cert_file(NULL key)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, F("missing-client.pem"), key), WS_ERR_TLS,
                "set_tls_client_cert_file(missing file)");
  CHECK(contains(ws_last_error_message(), "missing-client.pem"), "the message names the file (\"%s\")", last_msg());
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, F("nocert.pem"), key), WS_ERR_TLS,
                "set_tls_client_cert_file(a file with no certificate)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, cert, F("server.key")), WS_ERR_TLS,
                "set_tls_client_cert_file(a key that does not match)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_file(cfg, cert, key), WS_STATUS_OK,
                "set_tls_client_cert_file(client.pem, client.key)");

  const uint8_t *cp = pem_data("client.pem"), *kp = pem_data("client.key");
  size_t cl = pem_len("client.pem"), kl = pem_len("client.key");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(NULL, cp, cl, kp, kl), WS_ERR_NULL,
                "set_tls_client_cert_pem(NULL cfg)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, NULL, cl, kp, kl), WS_ERR_NULL,
                "set_tls_client_cert_pem(NULL cert, len > 0)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, cp, cl, NULL, kl), WS_ERR_NULL,
                "set_tls_client_cert_pem(NULL key, len > 0)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, cp, 0, kp, kl), WS_ERR_TLS,
                "set_tls_client_cert_pem(empty cert)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, (const uint8_t *)"garbage", 7, kp, kl), WS_ERR_TLS,
                "set_tls_client_cert_pem(text without a certificate)");
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, cp, cl, pem_data("server.key"), pem_len("server.key")),
                WS_ERR_TLS, "set_tls_client_cert_pem(a key that does not match)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_client_config_set_tls_client_cert_pem(cfg, cp, cl, kp, kl), WS_STATUS_OK,
                "set_tls_client_cert_pem(good)");

  EXPECT_STATUS(ws_client_config_dangerous_disable_tls_verification(NULL), WS_ERR_NULL,
                "dangerous_disable_tls_verification(NULL cfg)");
  EXPECT_STATUS(ws_client_config_dangerous_disable_tls_verification(cfg), WS_STATUS_OK,
                "dangerous_disable_tls_verification");
  ws_client_config_free(cfg);

  /* wss:// with no trusted CA at all cannot work: refused at once. */
  int port = free_port();
  char url[64];
  snprintf(url, sizeof url, "wss://127.0.0.1:%d/", port);
  cfg = ws_client_config_new();
  ws_client_config_set_tls_system_roots(cfg, 0);
  EXPECT_NULL_ERR(ws_client_connect(url, cfg, &CB, NULL), WS_ERR_TLS,
                  "ws_client_connect(wss://...) with system roots off and no CA");
  CHECK(contains(ws_last_error_message(), "no trusted CA"), "the message says no CA is trusted (\"%s\")", last_msg());
  /* ... but ws:// needs no CA. */
  char plain_url[64];
  snprintf(plain_url, sizeof plain_url, "ws://127.0.0.1:%d/", port);
  ws_client *c = ws_client_connect(plain_url, cfg, NULL, NULL);
  CHECK(c != NULL, "the same config is fine for ws:// (%s)", c ? "ok" : last_msg());
  ws_client_free(c);
  /* Without verification no CA is needed either. */
  ws_client_config_dangerous_disable_tls_verification(cfg);
  c = ws_client_connect(url, cfg, NULL, NULL);
  CHECK(c != NULL, "system roots off and verification off: ws_client_connect(wss://...) returns a client (%s)",
        c ? "ok" : last_msg());
  ws_client_free(c);
  ws_client_config_free(cfg);

  CHECK(str_eq(ws_status_name(WS_ERR_TLS), "WS_ERR_TLS"), "ws_status_name(WS_ERR_TLS) == \"WS_ERR_TLS\" (got \"%s\")",
        ws_status_name(WS_ERR_TLS));
  CHECK(WS_ERR_TLS == -17 && WS_TLS_HANDSHAKE_FAIL == 1015, "WS_ERR_TLS == -17, WS_TLS_HANDSHAKE_FAIL == 1015");
}

/* ------------------------------------------------------------ round trips */

/* on_handshake for the TLS server: records ws_handshake_is_secure, accepts. */
static pthread_mutex_t g_hs_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_hs_calls, g_hs_secure = -1, g_hs_accept = 1;

static void on_handshake_secure(void *ud, ws_handshake *hs) {
  (void)ud;
  int secure = ws_handshake_is_secure(hs);
  int st = ws_handshake_accept(hs, NULL);
  pthread_mutex_lock(&g_hs_mu);
  g_hs_calls++;
  g_hs_secure = secure;
  g_hs_accept = st;
  pthread_mutex_unlock(&g_hs_mu);
}

static void test_round_trip_ca_file(void) {
  note("wss round trip: server certificate from files, client trusts the CA file (system roots on)");
  rec sr, cr;
  rec_init(&sr, "tls-server");
  rec_init(&cr, "tls-client");
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server_config *scfg = cert_config("server.pem", "server.key");
  /* A failing setter keeps the certificate set before it. */
  EXPECT_STATUS(ws_server_config_set_tls_cert_file(scfg, F("server.pem"), F("client.key")), WS_ERR_TLS,
                "a mismatched key after a good one");
  ws_server *srv = ws_server_listen("127.0.0.1", 0, scfg, &CB, &sr);
  ws_server_config_free(scfg);
  CHECK(srv != NULL, "the TLS server listens (%s)", srv ? "ok" : last_msg());
  ws_client_config *ccfg = ws_client_config_new();
  CHECK_STATUS(ws_client_config_add_tls_ca_file(ccfg, F("ca.pem")), WS_STATUS_OK, "add_tls_ca_file(ca.pem)");
  ws_client *cl = srv ? wss_connect("localhost", srv, "/tls?x=1", ccfg, &cr) : NULL;
  ws_client_config_free(ccfg);
  if (cl) {
    round_trip("CA file, wss://localhost", srv, &sr, cl, &cr);
    ws_conn *sc = sr.n_conns ? sr.conns[0] : NULL;
    CHECK(sc && str_eq(ws_conn_path(sc), "/tls") && str_eq(ws_conn_query(sc), "x=1"),
          "the server read path and query through TLS");
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

static void test_round_trip_ca_pem(void) {
  note("wss round trip: server certificate from memory, client trusts only the CA PEM (system roots off)");
  rec sr, cr;
  rec_init(&sr, "tls-server");
  rec_init(&cr, "tls-client");
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server_config *scfg = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_tls_cert_pem(scfg, pem_data("server.pem"), pem_len("server.pem"),
                                                 pem_data("server.key"), pem_len("server.key")),
               WS_STATUS_OK, "set_tls_cert_pem(server)");
  ws_callbacks cb = CB;
  cb.on_handshake = on_handshake_secure;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, scfg, &cb, &sr);
  ws_server_config_free(scfg);
  CHECK(srv != NULL, "the TLS server listens (%s)", srv ? "ok" : last_msg());
  ws_client_config *ccfg = ws_client_config_new();
  CHECK_STATUS(ws_client_config_set_tls_system_roots(ccfg, 0), WS_STATUS_OK, "set_tls_system_roots(0)");
  CHECK_STATUS(ws_client_config_add_tls_ca_pem(ccfg, pem_data("ca.pem"), pem_len("ca.pem")), WS_STATUS_OK,
               "add_tls_ca_pem(ca.pem)");
  /* A client certificate the server does not ask for is simply not used. */
  CHECK_STATUS(ws_client_config_set_tls_client_cert_file(ccfg, F("client.pem"), F("client.key")), WS_STATUS_OK,
               "set_tls_client_cert_file (server does not ask for one)");
  ws_client *cl = srv ? wss_connect("127.0.0.1", srv, "/", ccfg, &cr) : NULL;
  ws_client_config_free(ccfg);
  if (cl) round_trip("CA PEM, wss://127.0.0.1 (IP SAN)", srv, &sr, cl, &cr);
  pthread_mutex_lock(&g_hs_mu);
  CHECK(g_hs_calls == 1 && g_hs_secure == 1 && g_hs_accept == WS_STATUS_OK,
        "on_handshake ran once over TLS: ws_handshake_is_secure == 1, accept OK (calls %d, secure %d, accept %d)",
        g_hs_calls, g_hs_secure, g_hs_accept);
  pthread_mutex_unlock(&g_hs_mu);
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

static void test_plain_is_not_secure(void) {
  note("plain ws://: not secure on either end; ws:// to a TLS server; wss:// to a plain server");
  rec sr, cr;
  rec_init(&sr, "plain-server");
  rec_init(&cr, "plain-client");
  sr.retain_open = 1;
  ws_callbacks cb = CB;
  cb.on_handshake = on_handshake_secure;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, &cb, &sr);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", srv ? ws_server_port(srv) : 1);
  ws_client *cl = ws_client_connect(url, NULL, &CB, &cr);
  ws_conn *c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "plain client opens");
  CHECK(ws_conn_is_secure(c) == 0, "ws_conn_is_secure(plain client) == 0");
  CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS) && sr.n_conns == 1 && ws_conn_is_secure(sr.conns[0]) == 0,
        "ws_conn_is_secure(plain server side) == 0");
  CHECK(ws_server_is_secure(srv) == 0, "ws_server_is_secure(plain) == 0");
  pthread_mutex_lock(&g_hs_mu);
  CHECK(g_hs_calls == 2 && g_hs_secure == 0, "ws_handshake_is_secure == 0 for a plain request (got %d)", g_hs_secure);
  pthread_mutex_unlock(&g_hs_mu);
  ws_client_free(cl);
  rec_destroy(&cr);

  /* wss:// to the plain server */
  rec_init(&cr, "wss-to-plain");
  ws_client_config *ccfg = ca_client_config();
  cl = wss_connect("127.0.0.1", srv, "/", ccfg, &cr);
  ws_client_config_free(ccfg);
  long long t0 = now_ms();
  if (cl) expect_tls_failure("wss:// to a plain server", NULL, NULL, cl, &cr, "did not answer with TLS");
  CHECK(now_ms() - t0 < 3000, "it failed promptly (%lld ms), not at a timeout", now_ms() - t0);
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&cr);
  rec_destroy(&sr);

  /* ws:// to a TLS server: an HTTP 400 that says so */
  rec_init(&sr, "tls-server");
  rec_init(&cr, "ws-to-tls");
  srv = tls_server("server.pem", "server.key", &sr);
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", srv ? ws_server_port(srv) : 1);
  cl = ws_client_connect(url, NULL, &CB, &cr);
  if (cl) {
    EXPECT_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_ERR_HANDSHAKE, "ws:// client to a TLS server");
    rec_wait(&cr, &cr.n_close, 1, WAIT_MS); /* first: the message below reads what it waited for */
    CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.err_status == WS_ERR_HANDSHAKE && contains(cr.err_msg, "400") &&
              cr.close_code == WS_CLOSED_ABNORMALLY,
          "on_error(WS_ERR_HANDSHAKE, \"...400...\") + on_close(1006) (got %s \"%s\", %d)",
          ws_status_name(cr.err_status), cr.err_msg, cr.close_code);
  }
  ws_client_free(cl);
  char resp[4096];
  raw_exchange(srv ? ws_server_port(srv) : 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp);
  CHECK(strncmp(resp, "HTTP/1.1 400 ", 13) == 0 && contains(http_body(resp), "wss://"),
        "plain HTTP to the TLS port: 400 whose body says to use wss:// (got \"%.*s\")", (int)strcspn(resp, "\r\n"),
        resp);
  ws_server_free(srv);
  rec_destroy(&cr);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ refusals */

/* A TLS server with `cert`, and a client with `ccfg` that must fail. */
static void refused_by_client(const char *what, const char *cert, const char *key, const char *host,
                              const ws_client_config *ccfg, const char *needle) {
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  ws_server *srv = tls_server(cert, key, &sr);
  ws_client *cl = srv ? wss_connect(host, srv, "/", ccfg, &cr) : NULL;
  if (cl) expect_tls_failure(what, srv, &sr, cl, &cr, needle);
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

static void test_server_certificate_refused(void) {
  note("the client refuses a server certificate: wrong CA, wrong name, expired, not yet valid");
  ws_client_config *other_ca = ws_client_config_new();
  ws_client_config_set_tls_system_roots(other_ca, 0);
  ws_client_config_add_tls_ca_file(other_ca, F("ca2.pem"));
  refused_by_client("wrong CA", "server.pem", "server.key", "127.0.0.1", other_ca, "not signed by a trusted CA");
  ws_client_config_free(other_ca);

  ws_client_config *ccfg = ca_client_config();
  refused_by_client("wrong name (certificate for other.example)", "other.pem", "other.key", "127.0.0.1", ccfg,
                    "not valid for the name '127.0.0.1'");
  refused_by_client("wrong name via localhost", "other.pem", "other.key", "localhost", ccfg,
                    "not valid for the name 'localhost'");
  refused_by_client("expired certificate", "expired.pem", "dated.key", "127.0.0.1", ccfg, "expired");
  refused_by_client("certificate not valid yet", "future.pem", "dated.key", "127.0.0.1", ccfg, "not valid yet");
  ws_client_config_free(ccfg);
}

static void test_dangerous_no_verification(void) {
  note("dangerous_disable_tls_verification: connects to servers it would refuse");
  static const struct {
    const char *cert, *key, *what;
  } servers[] = {{"other.pem", "other.key", "no verification, wrong-name server"},
                 {"expired.pem", "dated.key", "no verification, expired certificate"}};
  for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
    rec sr, cr;
    rec_init(&sr, "server");
    rec_init(&cr, "client");
    sr.echo = 1;
    sr.retain_open = 1;
    ws_server *srv = tls_server(servers[i].cert, servers[i].key, &sr);
    ws_client_config *ccfg = ws_client_config_new();
    ws_client_config_set_tls_system_roots(ccfg, 0);
    CHECK_STATUS(ws_client_config_dangerous_disable_tls_verification(ccfg), WS_STATUS_OK,
                 "dangerous_disable_tls_verification");
    ws_client *cl = srv ? wss_connect("127.0.0.1", srv, "/", ccfg, &cr) : NULL;
    ws_client_config_free(ccfg);
    if (cl) round_trip(servers[i].what, srv, &sr, cl, &cr);
    ws_client_free(cl);
    ws_server_free(srv);
    rec_destroy(&sr);
    rec_destroy(&cr);
  }
}

/* ------------------------------------------------------------ mutual TLS */

typedef enum { NO_CERT, CERT_FILE, CERT_PEM, CERT_OTHER_CA, CERT_SELF_SIGNED } client_cert;

static ws_client_config *mtls_client(client_cert which) {
  ws_client_config *cfg = ca_client_config();
  int st = WS_STATUS_OK;
  switch (which) {
    case NO_CERT:
      break;
    case CERT_FILE:
      st = ws_client_config_set_tls_client_cert_file(cfg, F("client.pem"), F("client.key"));
      break;
    case CERT_PEM:
      st = ws_client_config_set_tls_client_cert_pem(cfg, pem_data("client.pem"), pem_len("client.pem"),
                                                    pem_data("client.key"), pem_len("client.key"));
      break;
    case CERT_OTHER_CA:
      st = ws_client_config_set_tls_client_cert_file(cfg, F("client2.pem"), F("client2.key"));
      break;
    case CERT_SELF_SIGNED:
      st = ws_client_config_set_tls_client_cert_file(cfg, F("rogue.pem"), F("rogue.key"));
      break;
  }
  CHECK(st == WS_STATUS_OK, "client certificate set (%s)", st ? last_msg() : "ok");
  return cfg;
}

/* Connects with `which` to `srv`; expects it to open (then echo + close) or
 * to be refused with WS_ERR_TLS + 1015. */
static void mtls_case(const char *what, ws_server *srv, rec *sr, client_cert which, int want_open) {
  rec cr;
  rec_init(&cr, "client");
  pthread_mutex_lock(&sr->mu);
  int opened_before = sr->n_open;
  pthread_mutex_unlock(&sr->mu);
  ws_client_config *cfg = mtls_client(which);
  ws_client *cl = wss_connect("127.0.0.1", srv, "/", cfg, &cr);
  ws_client_config_free(cfg);
  if (cl && want_open) {
    ws_conn *c = ws_client_conn(cl);
    char d[200];
    snprintf(d, sizeof d, "%s: the client opens", what);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, d);
    CHECK(rec_wait(sr, &sr->n_open, opened_before + 1, WAIT_MS), "%s: the server opens it", what);
    CHECK_STATUS(ws_conn_send_text(c, "mtls", 4), WS_STATUS_OK, "send");
    CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, "mtls", 4), "%s: echo", what);
    CHECK(ws_conn_close(c, 1000, NULL) == WS_STATUS_OK && ws_conn_wait_closed(c, WAIT_MS) == WS_STATUS_OK &&
              ws_conn_close_code(c) == 1000,
          "%s: closed with 1000", what);
  } else if (cl) {
    expect_tls_failure(what, NULL, NULL, cl, &cr, "refused the TLS handshake");
    CHECK(rec_get(sr, &sr->n_open) == opened_before, "%s: the server application saw no connection", what);
  }
  ws_client_free(cl);
  rec_destroy(&cr);
}

static void test_mutual_tls(void) {
  note("mutual TLS, client certificate required (client CA from a file)");
  rec sr;
  rec_init(&sr, "mtls-server");
  sr.echo = 1;
  ws_server_config *cfg = cert_config("server.pem", "server.key");
  CHECK_STATUS(ws_server_config_add_tls_client_ca_file(cfg, F("ca.pem")), WS_STATUS_OK,
               "add_tls_client_ca_file(ca.pem)");
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  CHECK(srv != NULL && ws_server_is_secure(srv) == 1, "the mTLS server listens, secure");
  if (srv) {
    mtls_case("required, client certificate from files", srv, &sr, CERT_FILE, 1);
    mtls_case("required, client certificate from PEM", srv, &sr, CERT_PEM, 1);
    mtls_case("required, no client certificate", srv, &sr, NO_CERT, 0);
    mtls_case("required, certificate of an untrusted CA", srv, &sr, CERT_OTHER_CA, 0);
  }
  ws_server_free(srv);
  rec_destroy(&sr);

  note("mutual TLS, client certificate optional (client CAs from PEM, two of them)");
  rec_init(&sr, "mtls-optional-server");
  sr.echo = 1;
  cfg = ws_server_config_new();
  ws_server_config_set_tls_cert_pem(cfg, pem_data("server.pem"), pem_len("server.pem"), pem_data("server.key"),
                                    pem_len("server.key"));
  CHECK_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, pem_data("ca2.pem"), pem_len("ca2.pem")), WS_STATUS_OK,
               "add_tls_client_ca_pem(ca2.pem)");
  CHECK_STATUS(ws_server_config_add_tls_client_ca_pem(cfg, pem_data("ca.pem"), pem_len("ca.pem")), WS_STATUS_OK,
               "add_tls_client_ca_pem(ca.pem) (a second CA)");
  CHECK_STATUS(ws_server_config_set_tls_client_cert_optional(cfg, 1), WS_STATUS_OK, "set_tls_client_cert_optional(1)");
  srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "the optional-mTLS server listens (%s)", srv ? "ok" : last_msg());
  if (srv) {
    mtls_case("optional, no client certificate", srv, &sr, NO_CERT, 1);
    mtls_case("optional, certificate of the second CA added", srv, &sr, CERT_PEM, 1);
    mtls_case("optional, certificate of the first CA added", srv, &sr, CERT_OTHER_CA, 1);
    mtls_case("optional, a self-signed certificate is still refused", srv, &sr, CERT_SELF_SIGNED, 0);
  }
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ reload and SNI */

/* A client config trusting only the CA in `ca_file` (in g_dir). */
static ws_client_config *trusting_only(const char *ca_file) {
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_set_tls_system_roots(cfg, 0);
  int st = ws_client_config_add_tls_ca_file(cfg, F(ca_file));
  CHECK(st == WS_STATUS_OK, "add_tls_ca_file(%s) (%s)", ca_file, st ? last_msg() : "ok");
  return cfg;
}

/* `c` sends `what` as text and gets it back (the server echoes). */
static void echoes(const char *what, ws_conn *c, rec *cr) {
  int before = rec_get(cr, &cr->n_msg);
  size_t len = strlen(what);
  CHECK_STATUS(ws_conn_send_text(c, what, len), WS_STATUS_OK, "send text");
  CHECK(rec_wait(cr, &cr->n_msg, before + 1, WAIT_MS) && msg_is(cr, WS_MESSAGE_TEXT, what, len), "%s: echoed",
        what);
}

/* A client of `srv` at `host` trusting only `ca_file`, open (NULL when it
 * is not); free it with ws_client_free. */
static ws_client *open_client(const char *what, const char *host, ws_server *srv, const char *ca_file, rec *cr) {
  ws_client_config *cfg = trusting_only(ca_file);
  ws_client *cl = wss_connect(host, srv, "/", cfg, cr);
  ws_client_config_free(cfg);
  char d[256];
  snprintf(d, sizeof d, "%s: the client opens", what);
  if (cl && !CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, d)) {
    ws_client_free(cl);
    return NULL;
  }
  return cl;
}

/* A client at `host` trusting only `ca_file` opens, is echoed and closes. */
static void served(const char *what, const char *host, ws_server *srv, const char *ca_file) {
  rec cr;
  rec_init(&cr, "client");
  ws_client *cl = open_client(what, host, srv, ca_file, &cr);
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    echoes(what, c, &cr);
    CHECK(ws_conn_close(c, 1000, NULL) == WS_STATUS_OK && ws_conn_wait_closed(c, WAIT_MS) == WS_STATUS_OK,
          "%s: closes", what);
  }
  ws_client_free(cl);
  rec_destroy(&cr);
}

/* A client at `host` trusting only `ca_file` refuses the server's certificate. */
static void refused(const char *what, const char *host, ws_server *srv, const char *ca_file) {
  rec cr;
  rec_init(&cr, "client");
  ws_client_config *cfg = trusting_only(ca_file);
  ws_client *cl = wss_connect(host, srv, "/", cfg, &cr);
  ws_client_config_free(cfg);
  if (cl) expect_tls_failure(what, NULL, NULL, cl, &cr, "not signed by a trusted CA");
  ws_client_free(cl);
  rec_destroy(&cr);
}

static void test_reload(void) {
  note("reloading a running server's certificate: new handshakes get it, open connections keep theirs");
  rec sr, br;
  rec_init(&sr, "server");
  rec_init(&br, "before");
  sr.echo = 1;
  ws_server *srv = tls_server("server.pem", "server.key", &sr);
  ws_client *before = srv ? open_client("before the reload, CA 1", "127.0.0.1", srv, "ca.pem", &br) : NULL;
  if (!before) goto out;

  const char *cert2 = F("server2.pem"), *key2 = F("server2.key");
  EXPECT_STATUS(ws_server_reload_tls_cert_file(NULL, cert2, key2), WS_ERR_NULL, "reload_tls_cert_file(NULL server)");
  EXPECT_STATUS(ws_server_reload_tls_cert_file(srv, NULL, key2), WS_ERR_NULL, "reload_tls_cert_file(NULL cert)");
  EXPECT_STATUS(ws_server_reload_tls_cert_file(srv, cert2, NULL), WS_ERR_NULL, "reload_tls_cert_file(NULL key)");
  EXPECT_STATUS(ws_server_reload_tls_cert_file(srv, F("missing.pem"), key2), WS_ERR_TLS,
                "reload_tls_cert_file(missing file)");
  CHECK(contains(ws_last_error_message(), "missing.pem"), "the message names the file (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_reload_tls_cert_file(srv, cert2, F("server.key")), WS_ERR_TLS,
                "reload_tls_cert_file(a key that does not match)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_reload_tls_cert_pem(srv, (const uint8_t *)"garbage", 7, pem_data("server2.key"),
                                              pem_len("server2.key")),
                WS_ERR_TLS, "reload_tls_cert_pem(text without a certificate)");
  CHECK(contains(ws_last_error_message(), "no certificate"), "the message says there is no certificate (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_reload_tls_cert_pem(srv, pem_data("server2.pem"), pem_len("server2.pem"), NULL, 0),
                WS_ERR_TLS, "reload_tls_cert_pem(empty key)");
  served("after refused reloads the server keeps CA 1's certificate", "127.0.0.1", srv, "ca.pem");

  EXPECT_STATUS(ws_server_reload_tls_cert_file(srv, cert2, key2), WS_STATUS_OK, "reload_tls_cert_file(server2)");
  refused("after the reload, a client trusting only CA 1", "127.0.0.1", srv, "ca.pem");
  served("after the reload, a client trusting only CA 2", "127.0.0.1", srv, "ca2.pem");
  echoes("the connection opened before the reload still echoes", ws_client_conn(before), &br);

  EXPECT_STATUS(ws_server_reload_tls_cert_pem(srv, pem_data("server.pem"), pem_len("server.pem"),
                                              pem_data("server.key"), pem_len("server.key")),
                WS_STATUS_OK, "reload_tls_cert_pem(server)");
  served("reloaded from memory, CA 1 again", "127.0.0.1", srv, "ca.pem");
  CHECK(ws_conn_state(ws_client_conn(before)) == WS_STATE_OPEN && rec_get(&br, &br.n_error) == 0,
        "the connection opened first is still open, without an error");

  ws_server *plain = ws_server_listen("127.0.0.1", 0, NULL, &CB, NULL);
  EXPECT_STATUS(ws_server_reload_tls_cert_file(plain, cert2, key2), WS_ERR_BAD_STATE,
                "reload_tls_cert_file on a server without TLS");
  CHECK(contains(ws_last_error_message(), "does not speak TLS"), "the message says why (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(plain, "localhost", cert2, key2), WS_ERR_BAD_STATE,
                "reload_tls_sni_cert_file on a server without TLS");
  ws_server_free(plain);
out:
  ws_client_free(before);
  ws_server_free(srv);
  rec_destroy(&br);
  rec_destroy(&sr);
}

static void test_sni(void) {
  note("certificates by server name (SNI): setters, the default for other clients, reload by name");
  ws_server_config *cfg = ws_server_config_new();
  const char *cert2 = F("server2.pem"), *key2 = F("server2.key");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(NULL, "localhost", cert2, key2), WS_ERR_NULL,
                "add_tls_sni_cert_file(NULL cfg)");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, NULL, cert2, key2), WS_ERR_NULL,
                "add_tls_sni_cert_file(NULL hostname)");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, "localhost", F("missing.pem"), key2), WS_ERR_TLS,
                "add_tls_sni_cert_file(missing file)");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, "localhost", cert2, F("server.key")), WS_ERR_TLS,
                "add_tls_sni_cert_file(a key that does not match)");
  CHECK(contains(ws_last_error_message(), "does not belong"), "the message says the key does not belong (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, "127.0.0.1", cert2, key2), WS_ERR_TLS,
                "add_tls_sni_cert_file(an IP address)");
  CHECK(contains(ws_last_error_message(), "IP address"), "the message says names only (\"%s\")", last_msg());
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, "other.example", cert2, key2), WS_ERR_TLS,
                "add_tls_sni_cert_file(a name the certificate is not for)");
  CHECK(contains(ws_last_error_message(), "not valid for the name 'other.example'"), "the message names it (\"%s\")",
        last_msg());
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_pem(cfg, "localhost", (const uint8_t *)"garbage", 7,
                                                      pem_data("server2.key"), pem_len("server2.key")),
                WS_ERR_TLS, "add_tls_sni_cert_pem(text without a certificate)");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_file(cfg, "LocalHost", cert2, key2), WS_STATUS_OK,
                "add_tls_sni_cert_file(LocalHost, server2)");
  EXPECT_STATUS(ws_server_config_add_tls_sni_cert_pem(cfg, "other.example", pem_data("other.pem"),
                                                      pem_len("other.pem"), pem_data("other.key"),
                                                      pem_len("other.key")),
                WS_STATUS_OK, "add_tls_sni_cert_pem(other.example)");
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, cfg, &CB, NULL), WS_ERR_TLS,
                  "ws_server_listen with certificates by name but no default");
  CHECK(contains(ws_last_error_message(), "no default"), "the message says what is missing (\"%s\")", last_msg());
  CHECK_STATUS(ws_server_config_set_tls_cert_file(cfg, F("server.pem"), F("server.key")), WS_STATUS_OK,
               "set_tls_cert_file(server): the default");
  rec sr;
  rec_init(&sr, "server");
  sr.echo = 1;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "the server with certificates by name listens (%s)", srv ? "ok" : last_msg());
  if (!srv) goto out;

  served("wss://localhost sends SNI and gets CA 2's certificate", "localhost", srv, "ca2.pem");
  refused("wss://localhost with CA 1 alone", "localhost", srv, "ca.pem");
  served("wss://127.0.0.1 sends no name and gets the default, CA 1's", "127.0.0.1", srv, "ca.pem");

  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(srv, NULL, cert2, key2), WS_ERR_NULL,
                "reload_tls_sni_cert_file(NULL hostname)");
  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(srv, "127.0.0.1", cert2, key2), WS_ERR_TLS,
                "reload_tls_sni_cert_file(an IP address)");
  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(srv, "localhost", F("other.pem"), F("other.key")), WS_ERR_TLS,
                "reload_tls_sni_cert_file(a certificate for another name)");
  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(srv, "localhost", cert2, F("server.key")), WS_ERR_TLS,
                "reload_tls_sni_cert_file(a key that does not match)");
  served("refused reloads by name change nothing", "localhost", srv, "ca2.pem");

  EXPECT_STATUS(ws_server_reload_tls_sni_cert_file(srv, "localhost", F("server.pem"), F("server.key")),
                WS_STATUS_OK, "reload_tls_sni_cert_file(localhost, server)");
  served("localhost after its reload gets CA 1's certificate", "localhost", srv, "ca.pem");
  refused("localhost after its reload, CA 2 alone", "localhost", srv, "ca2.pem");
  EXPECT_STATUS(ws_server_reload_tls_sni_cert_pem(srv, "localhost", pem_data("server2.pem"), pem_len("server2.pem"),
                                                  pem_data("server2.key"), pem_len("server2.key")),
                WS_STATUS_OK, "reload_tls_sni_cert_pem(localhost, server2)");
  served("localhost reloaded from memory gets CA 2's again", "localhost", srv, "ca2.pem");
  served("127.0.0.1 still gets the default", "127.0.0.1", srv, "ca.pem");
out:
  ws_server_free(srv);
  rec_destroy(&sr);
}

/* ------------------------------------------------------------ main */

/* ------------------------------------------------------------ listen_fd */

/* A TCP socket of the given type on 127.0.0.1, bound to a free port, and
 * listening when `listening`; its port in *port. -1 on failure. */
static int tcp_socket(int type, int listening, int *port) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || (listening && listen(fd, 16) != 0) ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* ws_server_listen_fd on `fd` must fail with WS_ERR_INVALID_ARGUMENT and a
 * message containing `needle`. */
static void refuses_fd(const char *what, int fd, const char *needle) {
  char d[256];
  snprintf(d, sizeof d, "listen_fd(%s)", what);
  EXPECT_NULL_ERR(ws_server_listen_fd(fd, NULL, &CB, NULL), WS_ERR_INVALID_ARGUMENT, d);
  CHECK(contains(ws_last_error_message(), needle), "%s: the message says why (\"%s\" in \"%s\")", what, needle,
        last_msg());
}

static void test_listen_fd(void) {
  note("ws_server_listen_fd: serving on a socket the caller listens on, plain and TLS; bad descriptors");
  int port = 0;
  int fd = tcp_socket(SOCK_STREAM, 1, &port);
  if (!CHECK(fd >= 0, "a listening socket of our own (port %d)", port)) return;
  rec sr, cr;
  rec_init(&sr, "fd-server");
  rec_init(&cr, "fd-client");
  sr.echo = 1;
  ws_server *srv = ws_server_listen_fd(fd, NULL, &CB, &sr);
  CHECK(srv != NULL, "listen_fd on a plain listening socket (%s)", srv ? "ok" : last_msg());
  CHECK(close(fd) == 0, "the caller closes its own descriptor: the server has a duplicate");
  CHECK(srv && ws_server_port(srv) == port, "ws_server_port is the socket's port (%d)", srv ? ws_server_port(srv) : 0);
  CHECK(srv && ws_server_is_secure(srv) == 0, "not secure without a certificate");
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  ws_client *cl = srv ? ws_client_connect(url, NULL, &CB, &cr) : NULL;
  if (cl) {
    ws_conn *c = ws_client_conn(cl);
    CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "a plain client opens");
    echoes("over the adopted socket", c, &cr);
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&cr);
  rec_destroy(&sr);

  fd = tcp_socket(SOCK_STREAM, 1, &port);
  if (!CHECK(fd >= 0, "another listening socket (port %d)", port)) return;
  rec_init(&sr, "fd-tls-server");
  sr.echo = 1;
  ws_server_config *cfg = cert_config("server.pem", "server.key");
  srv = ws_server_listen_fd(fd, cfg, &CB, &sr);
  ws_server_config_free(cfg);
  CHECK(srv != NULL, "listen_fd with a TLS config (%s)", srv ? "ok" : last_msg());
  CHECK(srv && ws_server_is_secure(srv) == 1 && ws_server_port(srv) == port, "it speaks TLS on the socket's port");
  if (srv) served("wss:// over an adopted socket", "127.0.0.1", srv, "ca.pem");
  ws_server_free(srv);
  rec_destroy(&sr);
  /* The descriptor is still the caller's, and still listening. */
  int accepting = 0;
  socklen_t len = sizeof accepting;
  CHECK(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting == 1,
        "after ws_server_free the caller's descriptor is open and listening");
  close(fd);

  refuses_fd("-1", -1, "not a file descriptor");
  int pipe_fds[2];
  if (CHECK(pipe(pipe_fds) == 0, "a pipe")) {
    refuses_fd("a pipe", pipe_fds[0], "not a socket");
    close(pipe_fds[0]);
    close(pipe_fds[1]);
  }
  refuses_fd("a closed descriptor", pipe_fds[0], "not an open file descriptor");
  fd = tcp_socket(SOCK_STREAM, 0, &port);
  if (CHECK(fd >= 0, "a bound TCP socket, not listening")) {
    refuses_fd("a socket not listening", fd, "not listening");
    close(fd);
  }
  fd = tcp_socket(SOCK_DGRAM, 0, &port);
  if (CHECK(fd >= 0, "a UDP socket")) {
    refuses_fd("a UDP socket", fd, "not a TCP socket");
    close(fd);
  }
  int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (CHECK(unix_fd >= 0, "a Unix stream socket")) {
    refuses_fd("a Unix socket", unix_fd, "not a TCP socket");
    close(unix_fd);
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CB = rec_callbacks();
  if (!CHECK(temp_dir_make(g_dir, sizeof g_dir, "tls") == 0, "a temporary directory (%s)", g_dir))
    return check_summary();
  int made = make_certificates();
  CHECK(made == 0, "openssl made the test certificates in %s", g_dir);
  if (made == 0) {
    test_round_trip_ca_file(); /* by name first: see below */
    test_server_certificate_refused();
    test_server_setters();
    test_client_setters();
    test_round_trip_ca_pem();
    test_plain_is_not_secure();
    test_dangerous_no_verification();
    test_mutual_tls();
    test_reload();
    test_sni();
    test_listen_fd();
  }
  free_pems();
  /* Connecting to "localhost" resolves the name on one of tokio's blocking
   * threads, which lingers 2 s after its last job (the library's
   * BLOCKING_KEEP_ALIVE). glibc's per-thread
   * resolver state of a thread still alive at exit shows up in valgrind as a
   * definite leak (a glibc/valgrind artefact: a plain C program that calls
   * getaddrinfo in a thread that is still running at exit gets the same), so
   * let that thread end before exiting. */
  if (g_name_lookup_ms >= 0) {
    long long left = g_name_lookup_ms + 3000 - now_ms();
    if (left > 0) {
      note("waiting %lld ms for the name-lookup thread to end (see the comment in main)", left);
      sleep_ms((int)left);
    }
  }
  CHECK(temp_dir_remove(g_dir) == 0, "removed %s", g_dir);
  return check_summary();
}
