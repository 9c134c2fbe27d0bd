/*
 * test_topics: ws_conn_subscribe, ws_conn_unsubscribe, ws_conn_is_subscribed,
 * ws_server_publish, ws_server_subscriber_count and
 * ws_server_config_set_slow_subscriber, over loopback sockets.
 *
 * The server subscribes each connection to the topic its path names
 * ("/red" -> "red") and publishes every message it gets to that topic, as a
 * chat room does. Clients count what they get.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#include <stdatomic.h>

/* A client that counts the messages it gets and keeps the last. */
typedef struct member {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int got;
  char last[64];
  ws_client *client;
} member;

static void member_message(void *ud, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  (void)conn;
  (void)type;
  member *m = ud;
  pthread_mutex_lock(&m->mu);
  m->got++;
  size_t n = len < sizeof m->last - 1 ? len : sizeof m->last - 1;
  memcpy(m->last, data, n);
  m->last[n] = 0;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

/* Waits until the member got `target` messages; 1 if it did within WAIT_MS. */
static int member_wait(member *m, int target) {
  struct timespec until;
  deadline_in(&until, WAIT_MS);
  pthread_mutex_lock(&m->mu);
  while (m->got < target && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0) {
  }
  int ok = m->got >= target;
  pthread_mutex_unlock(&m->mu);
  return ok;
}

static int member_got(member *m, char *last, size_t size) {
  pthread_mutex_lock(&m->mu);
  int got = m->got;
  if (last) snprintf(last, size, "%s", m->last);
  pthread_mutex_unlock(&m->mu);
  return got;
}

static void member_join(member *m, int port, const char *room) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_message = member_message;
  char url[96];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/%s", port, room);
  m->client = ws_client_connect(url, NULL, &cb, m);
  if (m->client) ws_conn_wait_open(ws_client_conn(m->client), WAIT_MS);
}

static void member_leave(member *m) {
  ws_client_free(m->client);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
}

/* The server: what its callbacks need. */
static _Atomic(ws_server *) g_server;
static atomic_int g_subscribe_failures;

static void room_open(void *ud, ws_conn *conn) {
  (void)ud;
  if (ws_conn_subscribe(conn, ws_conn_path(conn) + 1) != WS_STATUS_OK) atomic_fetch_add(&g_subscribe_failures, 1);
}

static void room_message(void *ud, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  (void)ud;
  ws_server_publish(atomic_load(&g_server), ws_conn_path(conn) + 1, type, data, len);
}

static ws_server *room_server(ws_slow_subscriber slow) {
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = room_open;
  cb.on_message = room_message;
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_slow_subscriber(cfg, slow);
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, &cb, NULL);
  ws_server_config_free(cfg);
  atomic_store(&g_server, s);
  return s;
}

/* Waits until `topic` has `n` subscribers. */
static int wait_subscribers(ws_server *s, const char *topic, size_t n) {
  long long end = now_ms() + WAIT_MS;
  while (ws_server_subscriber_count(s, topic) != n && now_ms() < end) sleep_ms(2);
  return ws_server_subscriber_count(s, topic) == n;
}

static void test_arguments(ws_server *s) {
  note("arguments: NULL, bad names, bad types, bad policies");
  const uint8_t hi[] = "hi";
  EXPECT_STATUS(ws_server_publish(NULL, "t", WS_MESSAGE_TEXT, hi, 2), WS_ERR_NULL, "publish on NULL");
  EXPECT_STATUS(ws_server_publish(s, NULL, WS_MESSAGE_TEXT, hi, 2), WS_ERR_NULL, "publish to a NULL topic");
  EXPECT_STATUS(ws_server_publish(s, "", WS_MESSAGE_TEXT, hi, 2), WS_ERR_INVALID_ARGUMENT,
                "publish to an empty topic name");
  EXPECT_STATUS(ws_server_publish(s, "t", 7, hi, 2), WS_ERR_INVALID_ARGUMENT, "publish an unknown type");
  EXPECT_STATUS(ws_server_publish(s, "t", WS_MESSAGE_TEXT, (const uint8_t *)"\xff", 1), WS_ERR_INVALID_UTF8,
                "publish text that is not UTF-8");
  EXPECT_STATUS(ws_server_publish(s, "t", WS_MESSAGE_BINARY, NULL, 5), WS_ERR_NULL, "publish NULL data");
  CHECK(ws_server_publish(s, "nobody", WS_MESSAGE_TEXT, hi, 2) == 0, "publish to a topic nobody is on: 0");
  char long_name[1100];
  memset(long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = 0;
  EXPECT_STATUS(ws_server_publish(s, long_name, WS_MESSAGE_TEXT, hi, 2), WS_ERR_INVALID_ARGUMENT,
                "publish to a name over 1024 bytes");
  CHECK(ws_server_subscriber_count(NULL, "t") == 0 && ws_server_subscriber_count(s, NULL) == 0,
        "subscriber_count of NULLs: 0");
  EXPECT_STATUS(ws_conn_subscribe(NULL, "t"), WS_ERR_NULL, "subscribe NULL");
  EXPECT_STATUS(ws_conn_unsubscribe(NULL, "t"), WS_ERR_NULL, "unsubscribe NULL");
  EXPECT_STATUS(ws_conn_is_subscribed(NULL, "t"), WS_ERR_NULL, "is_subscribed NULL");
  EXPECT_STATUS(ws_server_config_set_slow_subscriber(NULL, WS_SLOW_SKIP), WS_ERR_NULL, "set_slow_subscriber(NULL)");
  ws_server_config *cfg = ws_server_config_new();
  EXPECT_STATUS(ws_server_config_set_slow_subscriber(cfg, 9), WS_ERR_INVALID_ARGUMENT, "an unknown slow policy");
  CHECK_STATUS(ws_server_config_set_slow_subscriber(cfg, WS_SLOW_CLOSE), WS_STATUS_OK, "WS_SLOW_CLOSE");
  ws_server_config_free(cfg);
}

static void test_rooms(ws_server *s) {
  note("rooms: each member gets its room's messages, the sender included, and no other");
  int port = ws_server_port(s);
  member red[3], blue[2];
  for (int i = 0; i < 3; i++) member_join(&red[i], port, "red");
  for (int i = 0; i < 2; i++) member_join(&blue[i], port, "blue");
  CHECK(wait_subscribers(s, "red", 3) && wait_subscribers(s, "blue", 2), "3 subscribers on red, 2 on blue");
  CHECK(atomic_load(&g_subscribe_failures) == 0, "every subscribe in on_open succeeded");

  /* From this thread. */
  CHECK(ws_server_publish(s, "red", WS_MESSAGE_TEXT, (const uint8_t *)"red 1", 5) == 3,
        "publish to red reaches 3");
  int ok = 1;
  for (int i = 0; i < 3; i++) ok &= member_wait(&red[i], 1);
  CHECK(ok, "every red member got it");

  /* From a callback: a member speaks, the room hears. */
  ws_conn_send_text(ws_client_conn(blue[0].client), "blue says", 9);
  ok = 1;
  for (int i = 0; i < 2; i++) ok &= member_wait(&blue[i], 1);
  CHECK(ok, "both blue members (the speaker too) got what a blue member said");
  ws_conn_send_text(ws_client_conn(red[2].client), "red 2", 5);
  ok = 1;
  for (int i = 0; i < 3; i++) ok &= member_wait(&red[i], 2);
  CHECK(ok, "every red member got what a red member said");
  char last[64];
  int got_blue = member_got(&blue[1], last, sizeof last);
  CHECK(got_blue == 1 && strcmp(last, "blue says") == 0, "blue got only blue's message (%d, \"%s\")", got_blue,
        last);
  member_got(&red[0], last, sizeof last);
  CHECK(strcmp(last, "red 2") == 0, "in order: red's last message is \"red 2\" (\"%s\")", last);

  /* Leaving: unsubscribe from here, and closing. */
  ws_conn *conns[8];
  int n = ws_server_connections(s, conns, 8);
  CHECK(n == 5, "5 server connections (%d)", n);
  int subscribed_red = 0, left = 0;
  for (int i = 0; i < n && i < 8; i++) {
    if (ws_conn_is_subscribed(conns[i], "red") == 1) {
      subscribed_red++;
      if (!left) {
        CHECK_STATUS(ws_conn_unsubscribe(conns[i], "red"), WS_STATUS_OK, "unsubscribe a red member");
        CHECK_STATUS(ws_conn_unsubscribe(conns[i], "red"), WS_STATUS_OK, "unsubscribe again: no error");
        CHECK(ws_conn_is_subscribed(conns[i], "red") == 0, "it is not subscribed any more");
        CHECK_STATUS(ws_conn_subscribe(conns[i], "green"), WS_STATUS_OK, "it subscribes to green");
        CHECK_STATUS(ws_conn_subscribe(conns[i], "green"), WS_STATUS_OK, "subscribe again: no error");
        left = 1;
      }
    }
    EXPECT_STATUS(ws_conn_subscribe(conns[i], ""), WS_ERR_INVALID_ARGUMENT, "subscribe to an empty name");
  }
  for (int i = 0; i < n && i < 8; i++) ws_conn_release(conns[i]);
  CHECK(subscribed_red == 3, "3 were subscribed to red (%d)", subscribed_red);
  CHECK(ws_server_subscriber_count(s, "red") == 2 && ws_server_subscriber_count(s, "green") == 1,
        "red has 2, green 1");
  CHECK(ws_server_publish(s, "red", WS_MESSAGE_TEXT, (const uint8_t *)"red 3", 5) == 2, "red reaches 2 now");

  EXPECT_STATUS(ws_conn_subscribe(ws_client_conn(red[0].client), "red"), WS_ERR_NOT_OPEN,
                "a client's connection cannot subscribe");
  for (int i = 0; i < 3; i++) member_leave(&red[i]);
  for (int i = 0; i < 2; i++) member_leave(&blue[i]);
  CHECK(wait_subscribers(s, "red", 0) && wait_subscribers(s, "blue", 0) && wait_subscribers(s, "green", 0),
        "closed connections left every topic");
}

int main(void) {
  ws_server *s = room_server(WS_SLOW_SKIP);
  CHECK(s != NULL, "listen (%s)", s ? "ok" : last_msg());
  if (!s) return check_summary();
  test_arguments(s);
  test_rooms(s);
  ws_server_free(s);
  return check_summary();
}
