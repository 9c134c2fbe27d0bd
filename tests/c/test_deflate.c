/*
 * test_deflate: the permessage-deflate part of the C API (RFC 7692): config
 * setters and their errors, the library-wide compression threshold, and
 * compressed round trips between our client and server over 127.0.0.1.
 */
#include "check.h"

static ws_callbacks CB;

static int msg_is(rec *r, int type, const void *data, size_t len) {
  pthread_mutex_lock(&r->mu);
  int ok = r->last_type == type && r->msg_len == len && r->msg && memcmp(r->msg, data, len) == 0;
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static void test_setters(void) {
  note("deflate config setters");
  ws_server_config *sc = ws_server_config_new();
  ws_client_config *cc = ws_client_config_new();
  CHECK_STATUS(ws_server_config_set_deflate(sc, 1), WS_STATUS_OK, "server: deflate on");
  CHECK_STATUS(ws_server_config_set_deflate(sc, 0), WS_STATUS_OK, "server: deflate off");
  CHECK_STATUS(ws_server_config_set_compression_threshold(sc, 0), WS_STATUS_OK, "server: threshold 0");
  CHECK_STATUS(ws_server_config_set_deflate_no_context_takeover(sc, 1, 1), WS_STATUS_OK, "server: no context takeover");
  CHECK_STATUS(ws_server_config_set_deflate_max_window_bits(sc, 9, 15), WS_STATUS_OK, "server: window bits 9/15");
  CHECK_STATUS(ws_server_config_set_deflate_level(sc, 1), WS_STATUS_OK, "server: level 1");
  CHECK_STATUS(ws_server_config_set_deflate_memory_level(sc, 1), WS_STATUS_OK, "server: memory level 1");
  EXPECT_STATUS(ws_server_config_set_deflate_memory_level(sc, 0), WS_ERR_INVALID_ARGUMENT, "server: memory level 0");
  EXPECT_STATUS(ws_server_config_set_deflate_memory_level(sc, 10), WS_ERR_INVALID_ARGUMENT, "server: memory level 10");
  EXPECT_STATUS(ws_server_config_set_deflate_memory_level(NULL, 8), WS_ERR_NULL, "server memory level: NULL");
  EXPECT_STATUS(ws_server_config_set_deflate_max_window_bits(sc, 8, 15), WS_ERR_INVALID_ARGUMENT, "server: window bits 8");
  EXPECT_STATUS(ws_server_config_set_deflate_max_window_bits(sc, 15, 16), WS_ERR_INVALID_ARGUMENT, "server: window bits 16");
  EXPECT_STATUS(ws_server_config_set_deflate_level(sc, 10), WS_ERR_INVALID_ARGUMENT, "server: level 10");
  CHECK_STATUS(ws_client_config_set_deflate(cc, 1), WS_STATUS_OK, "client: deflate on");
  CHECK_STATUS(ws_client_config_set_compression_threshold(cc, 100), WS_STATUS_OK, "client: threshold 100");
  CHECK_STATUS(ws_client_config_set_deflate_no_context_takeover(cc, 0, 1), WS_STATUS_OK, "client: no context takeover");
  CHECK_STATUS(ws_client_config_set_deflate_max_window_bits(cc, 15, 10), WS_STATUS_OK, "client: window bits 15/10");
  CHECK_STATUS(ws_client_config_set_deflate_level(cc, 9), WS_STATUS_OK, "client: level 9");
  CHECK_STATUS(ws_client_config_set_deflate_memory_level(cc, 9), WS_STATUS_OK, "client: memory level 9");
  EXPECT_STATUS(ws_client_config_set_deflate_memory_level(cc, -1), WS_ERR_INVALID_ARGUMENT, "client: memory level -1");
  EXPECT_STATUS(ws_client_config_set_deflate_memory_level(NULL, 8), WS_ERR_NULL, "client memory level: NULL");
  EXPECT_STATUS(ws_client_config_set_deflate_max_window_bits(cc, 7, 15), WS_ERR_INVALID_ARGUMENT, "client: window bits 7");
  EXPECT_STATUS(ws_client_config_set_deflate_level(cc, -1), WS_ERR_INVALID_ARGUMENT, "client: level -1");
  EXPECT_STATUS(ws_server_config_set_deflate(NULL, 1), WS_ERR_NULL, "server: NULL config");
  EXPECT_STATUS(ws_server_config_set_compression_threshold(NULL, 1), WS_ERR_NULL, "server threshold: NULL");
  EXPECT_STATUS(ws_server_config_set_deflate_no_context_takeover(NULL, 1, 1), WS_ERR_NULL, "server nct: NULL");
  EXPECT_STATUS(ws_server_config_set_deflate_max_window_bits(NULL, 15, 15), WS_ERR_NULL, "server bits: NULL");
  EXPECT_STATUS(ws_server_config_set_deflate_level(NULL, 6), WS_ERR_NULL, "server level: NULL");
  EXPECT_STATUS(ws_client_config_set_deflate(NULL, 1), WS_ERR_NULL, "client: NULL config");
  EXPECT_STATUS(ws_client_config_set_compression_threshold(NULL, 1), WS_ERR_NULL, "client threshold: NULL");
  EXPECT_STATUS(ws_client_config_set_deflate_no_context_takeover(NULL, 1, 1), WS_ERR_NULL, "client nct: NULL");
  EXPECT_STATUS(ws_client_config_set_deflate_max_window_bits(NULL, 15, 15), WS_ERR_NULL, "client bits: NULL");
  EXPECT_STATUS(ws_client_config_set_deflate_level(NULL, 6), WS_ERR_NULL, "client level: NULL");
  CHECK(ws_conn_extensions(NULL) == NULL && ws_last_error_code() == WS_ERR_NULL, "ws_conn_extensions(NULL) -> NULL");
  ws_server_config_free(sc);
  ws_client_config_free(cc);
}

/* A server and a client with `server_deflate` / `client_deflate`; sends
 * `len` bytes of text and checks the echo; returns the negotiated extension
 * seen by the client (static copy). */
static const char *round_trip_mem(int server_deflate, int client_deflate, size_t len, int nct, int mem_level);

static const char *round_trip(int server_deflate, int client_deflate, size_t len, int nct) {
  return round_trip_mem(server_deflate, client_deflate, len, nct, 8);
}

static const char *round_trip_mem(int server_deflate, int client_deflate, size_t len, int nct, int mem_level) {
  static char extensions[256];
  extensions[0] = 0;
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;
  ws_server_config *sc = ws_server_config_new();
  ws_client_config *cc = ws_client_config_new();
  ws_server_config_set_deflate(sc, server_deflate);
  ws_client_config_set_deflate(cc, client_deflate);
  if (nct) ws_client_config_set_deflate_no_context_takeover(cc, 1, 1);
  if (server_deflate) ws_server_config_set_deflate_memory_level(sc, mem_level);
  if (client_deflate) ws_client_config_set_deflate_memory_level(cc, mem_level);
  ws_server *srv = ws_server_listen("127.0.0.1", 0, sc, &CB, &sr);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/", srv ? ws_server_port(srv) : 0);
  ws_client *cl = ws_client_connect(url, cc, &CB, &cr);
  ws_server_config_free(sc);
  ws_client_config_free(cc);
  ws_conn *c = cl ? ws_client_conn(cl) : NULL;
  CHECK(c && ws_conn_wait_open(c, WAIT_MS) == WS_STATUS_OK, "open (server deflate %d, client deflate %d)",
        server_deflate, client_deflate);
  if (c) {
    snprintf(extensions, sizeof extensions, "%s", ws_conn_extensions(c));
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    for (int round = 1; round <= 3; round++) {
      CHECK(ws_conn_send_text(c, text, len) == WS_STATUS_OK, "send %zu bytes (round %d)", len, round);
      CHECK(rec_wait(&cr, &cr.n_msg, round, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, text, len),
            "%zu bytes echoed intact (round %d)", len, round);
    }
    free(text);
    ws_conn_close(c, WS_OK, NULL);
    ws_conn_wait_closed(c, WAIT_MS);
  }
  ws_client_free(cl);
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
  return extensions;
}

static void test_round_trips(void) {
  note("compressed round trips");
  const char *ext = round_trip(1, 1, 100000, 0);
  CHECK(strncmp(ext, "permessage-deflate", 18) == 0, "both on: negotiated \"%s\"", ext);
  ext = round_trip(1, 1, 50, 0);
  CHECK(strncmp(ext, "permessage-deflate", 18) == 0, "both on, below the threshold: \"%s\"", ext);
  ext = round_trip(1, 1, 300000, 1);
  CHECK(strstr(ext, "server_no_context_takeover") && strstr(ext, "client_no_context_takeover"),
        "no context takeover negotiated: \"%s\"", ext);
  ext = round_trip_mem(1, 1, 200000, 0, 1);
  CHECK(strncmp(ext, "permessage-deflate", 18) == 0, "memory level 1 on both ends: \"%s\"", ext);
  ext = round_trip(0, 1, 20000, 0);
  CHECK(ext[0] == 0, "server off: no extension (\"%s\")", ext);
  ext = round_trip(1, 0, 20000, 0);
  CHECK(ext[0] == 0, "client off: no extension (\"%s\")", ext);
}

static void test_default_threshold(void) {
  note("ws_set_compression_threshold");
  CHECK_STATUS(ws_set_compression_threshold(0), WS_STATUS_OK, "ws_set_compression_threshold(0)");
  const char *ext = round_trip(1, 1, 10, 0);
  CHECK(strncmp(ext, "permessage-deflate", 18) == 0, "tiny messages compressed and echoed: \"%s\"", ext);
  CHECK_STATUS(ws_set_compression_threshold(10240), WS_STATUS_OK, "back to 10240");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CB = rec_callbacks();
  test_setters();
  test_round_trips();
  test_default_threshold();
  return check_summary();
}
