/*
 * test_stats: statistics and the log callback through the C API.
 * A server that echoes and a client exchange known messages: ws_conn_stats on
 * both ends and ws_server_get_stats count them exactly, keep them after the close,
 * and a struct given a smaller size is filled only that far (the growth rule).
 * A raw request without a key is counted as a bad handshake. The log callback
 * sees the open and close of the client's connection with its ws_conn_id, no
 * DEBUG line at WS_LOG_INFO, and nothing once turned off.
 */
#include "check.h"

#define MAX_LINES 256

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int n_lines, n_debug;
static uint64_t line_ids[MAX_LINES];
static char lines[MAX_LINES][160];

static void on_log(void *ud, ws_log_level level, uint64_t conn_id, const char *message) {
  (void)ud;
  pthread_mutex_lock(&log_mu);
  if (level == WS_LOG_DEBUG) n_debug++;
  if (n_lines < MAX_LINES) {
    line_ids[n_lines] = conn_id;
    snprintf(lines[n_lines++], sizeof lines[0], "%s %s", ws_log_level_name(level), message);
  }
  pthread_mutex_unlock(&log_mu);
}

/* 1 when a line about connection `id` starts with `start` (level included). */
static int logged(uint64_t id, const char *start) {
  int found = 0;
  pthread_mutex_lock(&log_mu);
  for (int i = 0; i < n_lines; i++)
    if (line_ids[i] == id && strncmp(lines[i], start, strlen(start)) == 0) found = 1;
  pthread_mutex_unlock(&log_mu);
  return found;
}

static int wait_logged(uint64_t id, const char *start) {
  for (long long end = now_ms() + WAIT_MS; now_ms() < end; sleep_ms(10))
    if (logged(id, start)) return 1;
  return 0;
}

static void test_log_arguments(void) {
  CHECK_STATUS(ws_set_log_callback(on_log, NULL, 0), WS_ERR_INVALID_ARGUMENT, "level 0");
  CHECK_STATUS(ws_set_log_callback(on_log, NULL, 5), WS_ERR_INVALID_ARGUMENT, "level 5");
  CHECK(strcmp(ws_log_level_name(WS_LOG_INFO), "INFO") == 0, "level names");
  CHECK(strcmp(ws_log_level_name(9), "UNKNOWN") == 0, "unknown level name");
  CHECK(ws_conn_id(NULL) == 0, "ws_conn_id(NULL) is 0");
  ws_conn_stats cs = {.size = sizeof cs};
  ws_server_stats ss = {.size = sizeof ss};
  EXPECT_STATUS(ws_conn_get_stats(NULL, &cs), WS_ERR_NULL, "ws_conn_get_stats(NULL)");
  EXPECT_STATUS(ws_server_get_stats(NULL, &ss), WS_ERR_NULL, "ws_server_get_stats(NULL)");
}

static void test_stats_and_log(void) {
  CHECK_STATUS(ws_set_log_callback(on_log, NULL, WS_LOG_INFO), WS_STATUS_OK, "log at INFO");
  rec srv, cli;
  rec_init(&srv, "server");
  rec_init(&cli, "client");
  srv.echo = 1;
  ws_callbacks scb = rec_callbacks(), ccb = rec_callbacks();
  ws_server *server = ws_server_listen("127.0.0.1", 0, NULL, &scb, &srv);
  CHECK(server, "listen: %s", last_msg());
  int port = ws_server_port(server);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  ws_client *client = ws_client_connect(url, NULL, &ccb, &cli);
  ws_conn *conn = ws_client_conn(client);
  CHECK_STATUS(ws_conn_wait_open(conn, WAIT_MS), WS_STATUS_OK, "client opens");
  uint64_t id = ws_conn_id(conn);
  CHECK(id > 0, "the client's connection has an id");

  /* 4 texts of 3 bytes and 1 binary of 100: 5 messages, 112 bytes. */
  for (int i = 0; i < 4; i++) ws_conn_send_text(conn, "abc", 3);
  uint8_t blob[100] = {0};
  ws_conn_send_binary(conn, blob, sizeof blob);
  CHECK(rec_wait(&cli, &cli.n_msg, 5, WAIT_MS), "5 echoes arrive");

  ws_conn_stats cs = {.size = sizeof cs};
  CHECK_STATUS(ws_conn_get_stats(conn, &cs), WS_STATUS_OK, "ws_conn_stats");
  CHECK(cs.size == sizeof cs && cs.id == id, "size kept, id %llu", (unsigned long long)cs.id);
  CHECK(cs.messages_out == 5 && cs.bytes_out == 112, "client out: %llu messages, %llu bytes",
        (unsigned long long)cs.messages_out, (unsigned long long)cs.bytes_out);
  CHECK(cs.messages_in == 5 && cs.bytes_in == 112, "client in: %llu messages, %llu bytes",
        (unsigned long long)cs.messages_in, (unsigned long long)cs.bytes_in);
  CHECK(cs.send_queue_high_water >= 100, "client high-water %llu",
        (unsigned long long)cs.send_queue_high_water);

  /* The growth rule: a program with a smaller struct gets only what fits. */
  ws_conn_stats part;
  memset(&part, 0xAB, sizeof part);
  part.size = offsetof(ws_conn_stats, bytes_in);
  CHECK_STATUS(ws_conn_get_stats(conn, &part), WS_STATUS_OK, "smaller size");
  CHECK(part.id == id && part.messages_in == 5, "the fields within size are filled");
  CHECK(part.bytes_in == 0xABABABABABABABABull && part.send_queue_high_water == 0xABABABABABABABABull,
        "the fields past size are untouched");
  part.size = 3;
  EXPECT_STATUS(ws_conn_get_stats(conn, &part), WS_ERR_INVALID_ARGUMENT, "size 3");

  ws_server_stats ss = {.size = sizeof ss};
  CHECK_STATUS(ws_server_get_stats(server, &ss), WS_STATUS_OK, "ws_server_stats");
  CHECK(ss.connections_open == 1 && ss.connections_accepted == 1, "1 open, 1 accepted");
  CHECK(ss.messages_in == 5 && ss.bytes_in == 112 && ss.messages_out == 5 && ss.bytes_out == 112,
        "server totals %llu/%llu in, %llu/%llu out", (unsigned long long)ss.messages_in,
        (unsigned long long)ss.bytes_in, (unsigned long long)ss.messages_out,
        (unsigned long long)ss.bytes_out);

  /* A request without Sec-WebSocket-Key: 400, counted as a bad handshake. */
  int fd = raw_connect(port, 0);
  raw_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  char head[1024];
  raw_read_until(fd, head, sizeof head, "\r\n\r\n");
  close(fd);
  CHECK(strncmp(head, "HTTP/1.1 400", 12) == 0, "bad request gets 400: %.40s", head);
  CHECK_STATUS(ws_server_get_stats(server, &ss), WS_STATUS_OK, "ws_server_stats");
  CHECK(ss.refused_bad_handshake == 1 && ss.refused_full == 0, "refused as a bad handshake");

  ws_conn_close(conn, WS_OK, "done");
  CHECK_STATUS(ws_conn_wait_closed(conn, WAIT_MS), WS_STATUS_OK, "client closes");
  CHECK_STATUS(ws_server_wait_closed(server, WAIT_MS), WS_STATUS_OK, "server's end closes");
  CHECK_STATUS(ws_server_get_stats(server, &ss), WS_STATUS_OK, "ws_server_stats after close");
  CHECK(ss.connections_open == 0 && ss.messages_in == 5 && ss.bytes_out == 112,
        "closed connections stay counted");

  CHECK(wait_logged(id, "INFO open: to 127.0.0.1:"), "an INFO open line with the client's id");
  CHECK(wait_logged(id, "INFO closed with 1000"), "an INFO close line with the client's id");
  CHECK(wait_logged(0, "INFO refused 127.0.0.1:"), "the refusal is logged without an id");
  pthread_mutex_lock(&log_mu);
  int debug = n_debug;
  pthread_mutex_unlock(&log_mu);
  CHECK(debug == 0, "no DEBUG line at WS_LOG_INFO (%d)", debug);

  CHECK_STATUS(ws_set_log_callback(NULL, NULL, 0), WS_STATUS_OK, "log off");
  pthread_mutex_lock(&log_mu);
  int before = n_lines;
  pthread_mutex_unlock(&log_mu);
  ws_server_free(server);
  ws_server *quiet = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  ws_server_free(quiet);
  pthread_mutex_lock(&log_mu);
  CHECK(n_lines == before, "nothing logged once turned off");
  pthread_mutex_unlock(&log_mu);

  ws_client_free(client);
  rec_destroy(&srv);
  rec_destroy(&cli);
}

int main(void) {
  test_log_arguments();
  test_stats_and_log();
  return check_summary();
}
