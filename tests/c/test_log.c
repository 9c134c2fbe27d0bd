/*
 * test_log: the log in WS_DISPATCH_POLL mode (ws_set_log_dispatch) through the
 * C API. Lines wait in the polled event queue and reach the log callback only
 * inside ws_dispatch, on the dispatching thread, in order with the events of a
 * polled client (its "open" line before its on_open). Setting the callback
 * again drops the lines queued for the previous one (and their memory). With
 * the smallest queue, lines that find no room are dropped, and the next line
 * delivered comes after a WARN line counting them.
 */
#include "check.h"

#define MAX_LINES 512

/* Only the main thread touches these: lines come inside its ws_dispatch. */
static int n_lines, wrong_thread, seq, open_line_seq, on_open_seq;
static uint64_t line_ids[MAX_LINES];
static int line_levels[MAX_LINES];
static char lines[MAX_LINES][200];
static pthread_t main_thread;
static int user_data_token;

static void on_log(void *ud, ws_log_level level, uint64_t conn_id, const char *message) {
  if (!pthread_equal(pthread_self(), main_thread) || ud != &user_data_token) wrong_thread++;
  seq++;
  if (strncmp(message, "open: to", 8) == 0 && !open_line_seq) open_line_seq = seq;
  if (n_lines < MAX_LINES) {
    line_ids[n_lines] = conn_id;
    line_levels[n_lines] = level;
    snprintf(lines[n_lines++], sizeof lines[0], "%s", message);
  }
}

static void record_open(void *ud, ws_conn *conn) {
  (void)ud;
  (void)conn;
  seq++;
  if (!on_open_seq) on_open_seq = seq;
}

/* 1 when a delivered line about connection `id` starts with `start`. */
static int logged(uint64_t id, const char *start) {
  for (int i = 0; i < n_lines; i++)
    if (line_ids[i] == id && strncmp(lines[i], start, strlen(start)) == 0) return 1;
  return 0;
}

/* Opens a thread-dispatch client to `port`, closes it, waits until both ends
 * are closed; returns the client's connection id. */
static uint64_t open_and_close(ws_server *server, int port) {
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  ws_client *client = ws_client_connect(url, NULL, NULL, NULL);
  ws_conn *conn = ws_client_conn(client);
  CHECK_STATUS(ws_conn_wait_open(conn, WAIT_MS), WS_STATUS_OK, "client opens");
  uint64_t id = ws_conn_id(conn);
  ws_conn_close(conn, WS_OK, "done");
  CHECK_STATUS(ws_conn_wait_closed(conn, WAIT_MS), WS_STATUS_OK, "client closes");
  CHECK_STATUS(ws_server_wait_closed(server, WAIT_MS), WS_STATUS_OK, "server's end closes");
  ws_client_free(client);
  return id;
}

int main(void) {
  main_thread = pthread_self();
  /* The smallest queue: log lines may hold 8 KiB of it. */
  CHECK_STATUS(ws_event_queue_set_limit(64 * 1024), WS_STATUS_OK, "queue limit");
  CHECK_STATUS(ws_set_log_dispatch(5), WS_ERR_INVALID_ARGUMENT, "unknown mode");
  CHECK_STATUS(ws_set_log_dispatch(WS_DISPATCH_POLL), WS_STATUS_OK, "polled log");
  CHECK_STATUS(ws_set_log_callback(on_log, &user_data_token, WS_LOG_INFO), WS_STATUS_OK, "log at INFO");

  /* A thread-dispatch server; its lines still go through the queue. */
  ws_server *server = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  CHECK(server, "listen: %s", last_msg());
  int port = ws_server_port(server);
  uint64_t id = open_and_close(server, port);
  sleep_ms(50);
  CHECK(n_lines == 0, "no line before ws_dispatch (%d)", n_lines);
  int n = ws_dispatch(0);
  CHECK(n == n_lines && n >= 3, "ws_dispatch delivered the %d queued lines (%d)", n, n_lines);
  CHECK(logged(0, "listening on 127.0.0.1:"), "the listening line");
  CHECK(logged(id, "open: to 127.0.0.1:"), "the client's open line with its id");
  CHECK(logged(id, "closed with 1000"), "the client's close line with its id");
  CHECK(wrong_thread == 0, "every line on the dispatching thread, with its user_data");

  /* A polled client: its open line comes before its on_open. */
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_set_dispatch(cfg, WS_DISPATCH_POLL);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = record_open;
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  ws_client *polled = ws_client_connect(url, cfg, &cb, NULL);
  ws_client_config_free(cfg);
  for (long long end = now_ms() + WAIT_MS; !on_open_seq && now_ms() < end; sleep_ms(5)) ws_dispatch(0);
  CHECK(open_line_seq > 0 && open_line_seq < on_open_seq, "the open line (%d) before on_open (%d)",
        open_line_seq, on_open_seq);
  ws_client_free(polled);
  ws_dispatch(0);

  /* Setting the callback again drops the lines queued for the previous one. */
  open_and_close(server, port);
  CHECK_STATUS(ws_set_log_callback(on_log, &user_data_token, WS_LOG_DEBUG), WS_STATUS_OK, "log at DEBUG");
  n_lines = 0;
  CHECK(ws_dispatch(0) == 0 && n_lines == 0, "the queued lines were dropped (%d)", n_lines);

  /* Many connections without dispatching: the lines overflow the budget. */
  for (int i = 0; i < 15; i++) open_and_close(server, port);
  ws_dispatch(0);
  int fitted = n_lines;
  CHECK(fitted > 10 && fitted < 120, "the lines that fitted: %d", fitted);
  n_lines = 0;
  id = open_and_close(server, port);
  ws_dispatch(0);
  unsigned long long dropped = 0;
  CHECK(n_lines > 1 && line_levels[0] == WS_LOG_WARN && line_ids[0] == 0 &&
            sscanf(lines[0], "dropped %llu log lines", &dropped) == 1 && dropped > 0,
        "a WARN line counts the dropped lines first: %s", n_lines ? lines[0] : "(none)");
  CHECK(logged(id, "open: to 127.0.0.1:"), "then the new lines");

  /* Turned off with lines queued: they go, with their memory. */
  open_and_close(server, port);
  CHECK_STATUS(ws_set_log_callback(NULL, NULL, 0), WS_STATUS_OK, "log off");
  n_lines = 0;
  CHECK(ws_dispatch(0) == 0 && n_lines == 0, "nothing delivered once turned off");
  CHECK(wrong_thread == 0, "every line on the dispatching thread");
  CHECK_STATUS(ws_set_log_dispatch(WS_DISPATCH_THREAD), WS_STATUS_OK, "back to thread mode");

  ws_server_free(server);
  return check_summary();
}
