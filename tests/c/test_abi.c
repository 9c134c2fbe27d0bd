/*
 * test_abi: the ABI can grow. A program built against an older header, whose
 * ws_callbacks has fewer callbacks, keeps working with this library: the
 * library reads only the `size` bytes the program says it has (here the old
 * struct is followed by bytes that would crash the program if they were
 * called). A program built against a newer header is refused only when it sets
 * a callback this library does not know. A struct whose size was not set is
 * refused with a message naming WS_CALLBACKS_INIT. Also: ws_status is a C
 * enum, and getters on NULL handles follow the header's one rule.
 */
#include "check.h"

#include <stdalign.h>

/* ws_callbacks as an older header had it: the size, then two callbacks. */
typedef struct {
  size_t size;
  void (*on_open)(void *user_data, ws_conn *conn);
  void (*on_message)(void *user_data, ws_conn *conn, ws_message_type kind, const uint8_t *data, size_t len);
} old_callbacks;

/* ws_callbacks as a newer header might have it: one callback more. */
typedef struct {
  ws_callbacks known;
  void (*on_something_new)(void *user_data, ws_conn *conn);
} new_callbacks;

/* The old struct, followed by bytes no callback may be read from. */
typedef struct {
  alignas(void *) unsigned char bytes[sizeof(ws_callbacks) + 64];
} poisoned;

static void old_on_open(void *ud, ws_conn *conn) {
  (void)conn;
  rec *r = ud;
  pthread_mutex_lock(&r->mu);
  r->n_open++;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* The old server echoes; its on_close and on_error do not exist. */
static void old_on_message(void *ud, ws_conn *conn, ws_message_type kind, const uint8_t *data, size_t len) {
  rec *r = ud;
  int status = ws_conn_send(conn, kind, data, len);
  pthread_mutex_lock(&r->mu);
  r->n_msg++;
  if (status != WS_STATUS_OK) r->echo_failures++;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void new_on_something(void *ud, ws_conn *conn) {
  (void)ud;
  (void)conn;
}

static const ws_callbacks *old_struct_in(poisoned *p) {
  old_callbacks old = {sizeof(old_callbacks), old_on_open, old_on_message};
  memset(p->bytes, 0xAB, sizeof p->bytes);
  memcpy(p->bytes, &old, sizeof old);
  return (const ws_callbacks *)(const void *)p->bytes;
}

static void test_older_program(void) {
  note("a program built with a smaller ws_callbacks (size, on_open, on_message)");
  rec server_rec, client_rec;
  rec_init(&server_rec, "old server");
  rec_init(&client_rec, "client");
  poisoned sp;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, old_struct_in(&sp), &server_rec);
  CHECK(srv != NULL, "listen with the old struct: %s", last_msg());
  if (!srv) return;
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/old", ws_server_port(srv));
  ws_callbacks cb = rec_callbacks();
  ws_client *cl = ws_client_connect(url, NULL, &cb, &client_rec);
  CHECK(cl != NULL, "connect: %s", last_msg());
  if (cl) {
    CHECK(rec_wait(&client_rec, &client_rec.n_open, 1, WAIT_MS), "client open");
    CHECK(rec_wait(&server_rec, &server_rec.n_open, 1, WAIT_MS), "the old on_open ran");
    CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "from new", 8), WS_STATUS_OK, "send");
    CHECK(rec_wait(&client_rec, &client_rec.n_text, 1, WAIT_MS), "the old on_message echoed");
    CHECK(client_rec.msg_len == 8 && memcmp(client_rec.msg, "from new", 8) == 0, "echo is the message");
    CHECK(rec_get(&server_rec, &server_rec.echo_failures) == 0, "the echo was queued");
    /* Closing calls on_close, which the old struct does not have. */
    CHECK_STATUS(ws_conn_close(ws_client_conn(cl), WS_OK, "done"), WS_STATUS_OK, "close");
    CHECK(rec_wait(&client_rec, &client_rec.n_close, 1, WAIT_MS), "client closed");
    CHECK(client_rec.close_code == WS_OK, "close code 1000 (got %d)", client_rec.close_code);
    ws_client_free(cl);
  }
  CHECK_STATUS(ws_server_stop(srv), WS_STATUS_OK, "stop");
  CHECK_STATUS(ws_server_wait_closed(srv, WAIT_MS), WS_STATUS_OK, "the old server's connection ended");
  ws_server_free(srv);

  note("an older client");
  rec old_client;
  rec_init(&old_client, "old client");
  rec_init(&server_rec, "server");
  cb = rec_callbacks();
  server_rec.echo = 1;
  srv = ws_server_listen("127.0.0.1", 0, NULL, &cb, &server_rec);
  CHECK(srv != NULL, "listen");
  if (srv) {
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/old-client", ws_server_port(srv));
    poisoned cp;
    cl = ws_client_connect(url, NULL, old_struct_in(&cp), &old_client);
    CHECK(cl != NULL, "connect with the old struct: %s", last_msg());
    if (cl) {
      CHECK(rec_wait(&old_client, &old_client.n_open, 1, WAIT_MS), "the old on_open ran");
      ws_client_free(cl);
    }
    ws_server_free(srv);
  }
  rec_destroy(&server_rec);
  rec_destroy(&client_rec);
  rec_destroy(&old_client);
}

static void test_newer_program(void) {
  note("a program built with a larger ws_callbacks");
  new_callbacks n;
  memset(&n, 0, sizeof n);
  n.known.size = sizeof n;
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, &n.known, NULL);
  CHECK(srv != NULL, "a callback the library does not know, left NULL: accepted (%s)", last_msg());
  ws_server_free(srv);
  n.on_something_new = new_on_something;
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, NULL, &n.known, NULL), WS_ERR_NOT_SUPPORTED,
                  "a callback the library does not know, set");
  /* Callbacks count from 1 after the size: the new one is the struct's next word. */
  char named[32];
  snprintf(named, sizeof named, "callback %zu", sizeof(ws_callbacks) / sizeof(void *));
  CHECK(strstr(last_msg(), named) != NULL, "the message names it (%s)", last_msg());
  EXPECT_NULL_ERR(ws_client_connect("ws://127.0.0.1:1/", NULL, &n.known, NULL), WS_ERR_NOT_SUPPORTED,
                  "client: a callback the library does not know, set");
}

static void test_size_not_set(void) {
  note("a ws_callbacks whose size is not set");
  ws_callbacks zero;
  memset(&zero, 0, sizeof zero);
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, NULL, &zero, NULL), WS_ERR_INVALID_ARGUMENT, "size 0");
  CHECK(strstr(last_msg(), "WS_CALLBACKS_INIT") != NULL, "the message says how (%s)", last_msg());
  EXPECT_NULL_ERR(ws_client_connect("ws://127.0.0.1:1/", NULL, &zero, NULL), WS_ERR_INVALID_ARGUMENT,
                  "client: size 0");
  zero.size = sizeof(void *) + 3;
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, NULL, &zero, NULL), WS_ERR_INVALID_ARGUMENT,
                  "a size that is not a whole number of pointers");
  zero.size = (size_t)1 << 20;
  EXPECT_NULL_ERR(ws_server_listen("127.0.0.1", 0, NULL, &zero, NULL), WS_ERR_INVALID_ARGUMENT,
                  "a size far larger than any header's (uninitialised)");
  ws_callbacks init = WS_CALLBACKS_INIT;
  CHECK(init.size == sizeof(ws_callbacks) && init.on_open == NULL && init.on_handshake == NULL,
        "WS_CALLBACKS_INIT sets the size and no callback");
  ws_server *srv = ws_server_listen("127.0.0.1", 0, NULL, &init, NULL);
  CHECK(srv != NULL, "WS_CALLBACKS_INIT is accepted");
  ws_server_free(srv);
  srv = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  CHECK(srv != NULL, "NULL callbacks are accepted");
  ws_server_free(srv);
}

static void test_types(void) {
  note("ws_status is an enum; close codes are ws_close_code; getters on NULL");
  ws_status s = WS_ERR_NULL;
  CHECK(sizeof s == sizeof(int) && s < 0, "ws_status is an int-sized enum");
  ws_close_code code = WS_TLS_HANDSHAKE_FAIL;
  CHECK(code == 1015 && sizeof code == 2, "ws_close_code is uint16_t");
  CHECK(strcmp(ws_status_name(1000), "WS_ERR_UNKNOWN") == 0, "ws_status_name(1000), a close code: unknown");
  /* The rule by return type: NULL for pointers, a negative status for int, 0 unsigned. */
  EXPECT_NULL_ERR(ws_conn_subprotocol(NULL), WS_ERR_NULL, "ws_conn_subprotocol(NULL)");
  EXPECT_NULL_ERR(ws_conn_path(NULL), WS_ERR_NULL, "ws_conn_path(NULL)");
  EXPECT_STATUS(ws_conn_is_secure(NULL), WS_ERR_NULL, "ws_conn_is_secure(NULL)");
  EXPECT_STATUS(ws_conn_state(NULL), WS_ERR_NULL, "ws_conn_state(NULL)");
  EXPECT_STATUS(ws_conn_close_code(NULL), WS_ERR_NULL, "ws_conn_close_code(NULL)");
  EXPECT_STATUS(ws_server_is_secure(NULL), WS_ERR_NULL, "ws_server_is_secure(NULL)");
  EXPECT_STATUS(ws_handshake_is_secure(NULL), WS_ERR_NULL, "ws_handshake_is_secure(NULL)");
  EXPECT_STATUS(ws_frame_decoder_close_code(NULL), WS_ERR_NULL, "ws_frame_decoder_close_code(NULL)");
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_server_port(NULL) == 0 && ws_last_error_code() == WS_ERR_NULL, "ws_server_port(NULL): 0, WS_ERR_NULL");
  poison_last_error(WS_ERR_NULL);
  CHECK(ws_conn_buffered_amount(NULL) == 0 && ws_last_error_code() == WS_ERR_NULL,
        "ws_conn_buffered_amount(NULL): 0, WS_ERR_NULL");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_size_not_set();
  test_newer_program();
  test_older_program();
  test_types();
  return check_summary();
}
