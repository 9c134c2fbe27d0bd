/*
 * test_poll: WS_DISPATCH_POLL, the polled event queue (ws_event_fd,
 * ws_dispatch, ws_event_queue_set_limit), over loopback sockets.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static ws_callbacks CB;
static pthread_t g_main;
static int g_fd = -1;

static int readable(int ms) {
  struct pollfd p = {g_fd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, ms);
  while (rc < 0 && errno == EINTR);
  return rc == 1 && (p.revents & POLLIN);
}

/* Waits on the event fd and dispatches (max_events per call) until *field >=
 * target or ms pass. Adds what ws_dispatch returned to *dispatched; counts
 * results that are negative or over max_events in *bad. 1 if reached. */
static int pump(rec *r, const int *field, int target, int ms, int max_events, int *dispatched, int *bad) {
  long long end = now_ms() + ms;
  while (rec_get(r, field) < target && now_ms() < end) {
    readable(50);
    int n = ws_dispatch(max_events);
    if (n < 0 || (max_events > 0 && n > max_events)) (*bad)++;
    if (n > 0) *dispatched += n;
  }
  return rec_get(r, field) >= target;
}

/* Dispatches everything that arrives within ms; returns how many. */
static int drain(int ms) {
  long long end = now_ms() + ms;
  int total = 0;
  while (now_ms() < end) {
    if (readable(20)) {
      int n = ws_dispatch(0);
      if (n > 0) total += n;
    }
  }
  return total;
}

static ws_server *poll_server(rec *r) {
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_dispatch(cfg, WS_DISPATCH_POLL);
  ws_server *s = ws_server_listen("127.0.0.1", 0, cfg, &CB, r);
  ws_server_config_free(cfg);
  return s;
}

static ws_client *client_to(ws_server *s, const char *path, rec *r, int mode) {
  ws_client_config *cfg = ws_client_config_new();
  ws_client_config_set_dispatch(cfg, mode);
  char url[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", ws_server_port(s), path);
  ws_client *c = ws_client_connect(url, cfg, &CB, r);
  ws_client_config_free(cfg);
  return c;
}

static void watch_thread(rec *r) {
  r->check_thread = 1;
  r->want_thread = g_main;
}

static int msg_is(rec *r, int type, const void *data, size_t len) {
  pthread_mutex_lock(&r->mu);
  int ok = r->last_type == type && r->msg_len == len && (len == 0 || memcmp(r->msg, data, len) == 0);
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static int str_eq_path(const ws_conn *c) {
  return strcmp(ws_conn_path(c), "/poll") == 0 && strcmp(ws_conn_query(c), "mode=1") == 0;
}

static int str_eq_reason(rec *r, const char *want) {
  pthread_mutex_lock(&r->mu);
  int ok = strcmp(r->close_reason, want) == 0;
  pthread_mutex_unlock(&r->mu);
  return ok;
}

/* ------------------------------------------------------------ the queue limit and the fd */

static void test_queue_setup(void) {
  note("ws_event_queue_set_limit, ws_event_fd");
  /* In a child, before anything else: ws_event_fd() alone makes the limit final. */
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ws_event_fd();
    int st = ws_event_queue_set_limit(1 << 20);
    _exit(fd >= 0 && st == WS_ERR_BAD_STATE && ws_last_error_code() == WS_ERR_BAD_STATE ? 0 : 1);
  }
  int wst = 0;
  waitpid(pid, &wst, 0);
  CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "(child) after ws_event_fd(), set_limit -> WS_ERR_BAD_STATE");

  EXPECT_STATUS(ws_event_queue_set_limit(1000), WS_ERR_INVALID_ARGUMENT, "set_limit(1000): under 64 KiB");
  EXPECT_STATUS(ws_event_queue_set_limit(0), WS_ERR_INVALID_ARGUMENT, "set_limit(0)");
  EXPECT_STATUS(ws_event_queue_set_limit(64 * 1024 - 1), WS_ERR_INVALID_ARGUMENT, "set_limit(64 KiB - 1)");
  CHECK_STATUS(ws_event_queue_set_limit(1 << 20), WS_STATUS_OK, "set_limit(1 MiB) before first use");
  /* A thread-dispatch server does not use the queue. */
  ws_server *t = ws_server_listen("127.0.0.1", 0, NULL, NULL, NULL);
  CHECK(t != NULL, "a thread-dispatch server");
  ws_server_free(t);
  CHECK_STATUS(ws_event_queue_set_limit(64 * 1024), WS_STATUS_OK,
               "set_limit(64 KiB, the minimum) still allowed after a thread-mode server");

  /* A polled endpoint makes the queue used. */
  rec r;
  rec_init(&r, "first-poll");
  ws_server *p = poll_server(&r);
  CHECK(p != NULL, "a WS_DISPATCH_POLL server listens");
  EXPECT_STATUS(ws_event_queue_set_limit(1 << 20), WS_ERR_BAD_STATE, "set_limit after a polled endpoint exists");
  EXPECT_STATUS(ws_event_queue_set_limit(5), WS_ERR_INVALID_ARGUMENT, "set_limit(5) after use: still a bad value");
  ws_server_free(p);
  rec_destroy(&r);

  g_fd = ws_event_fd();
  CHECK(g_fd >= 0, "ws_event_fd() is a descriptor (%d)", g_fd);
  CHECK(fcntl(g_fd, F_GETFD) != -1, "it is open");
  /* An eventfd on Linux; a pipe when WS_EVENT_FD=pipe (make test-c runs this test both ways). */
  const char *kind = getenv("WS_EVENT_FD");
  int want_pipe = kind != NULL && strcmp(kind, "pipe") == 0;
  struct stat st;
  CHECK(fstat(g_fd, &st) == 0 && (S_ISFIFO(st.st_mode) != 0) == want_pipe, "it is %s", want_pipe ? "a pipe" : "an eventfd, not a pipe");
  CHECK(ws_event_fd() == g_fd, "ws_event_fd() returns the same descriptor again");
  EXPECT_STATUS(ws_event_queue_set_limit(1 << 20), WS_ERR_BAD_STATE, "set_limit after ws_event_fd()");
  CHECK(!readable(0), "the fd is not readable with nothing queued");
  CHECK(ws_dispatch(0) == 0, "ws_dispatch(0) with nothing queued -> 0 (does not block)");
  CHECK(ws_dispatch(1) == 0, "ws_dispatch(1) -> 0");
  CHECK(ws_dispatch(-5) == 0, "ws_dispatch(-5) -> 0");
}

/* ------------------------------------------------------------ a polled session */

static void test_poll_session(void) {
  note("a polled server and a polled client: callbacks only inside ws_dispatch, on this thread");
  rec sr, cr;
  rec_init(&sr, "poll-server");
  rec_init(&cr, "poll-client");
  watch_thread(&sr);
  watch_thread(&cr);
  sr.echo = 1;
  sr.retain_open = 1;
  ws_server *srv = poll_server(&sr);
  CHECK(srv != NULL, "polled server listens");
  if (!srv) return;
  ws_client *cl = client_to(srv, "/poll?mode=1", &cr, WS_DISPATCH_POLL);
  CHECK(cl != NULL, "polled client connects");
  if (!cl) {
    ws_server_free(srv);
    return;
  }
  ws_conn *c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "ws_conn_wait_open works without dispatching");
  CHECK(readable(WAIT_MS), "the event fd becomes readable");
  sleep_ms(100);
  CHECK(rec_get(&sr, &sr.n_total) == 0 && rec_get(&cr, &cr.n_total) == 0, "no callback ran before ws_dispatch");
  int dispatched = 0, bad = 0;
  CHECK(pump(&sr, &sr.n_open, 1, WAIT_MS, 0, &dispatched, &bad), "server on_open via ws_dispatch");
  CHECK(pump(&cr, &cr.n_open, 1, WAIT_MS, 0, &dispatched, &bad), "client on_open via ws_dispatch");
  CHECK(bad == 0, "ws_dispatch never returned a negative status");
  CHECK(dispatched == rec_get(&sr, &sr.n_total) + rec_get(&cr, &cr.n_total),
        "ws_dispatch returned the number of callbacks run (%d vs %d)", dispatched,
        rec_get(&sr, &sr.n_total) + rec_get(&cr, &cr.n_total));
  CHECK(cr.open_conn == c, "client on_open got the client's conn");
  CHECK(sr.n_conns == 1 && str_eq_path(sr.conns[0]), "server conn path \"/poll\", query \"mode=1\"");
  CHECK(!readable(0), "the fd is not readable once drained");
  CHECK(ws_dispatch(0) == 0, "ws_dispatch -> 0 once drained");

  /* echo: server on_message (main thread) sends, client on_message (main thread) */
  dispatched = 0;
  int before = rec_get(&sr, &sr.n_total) + rec_get(&cr, &cr.n_total);
  CHECK_STATUS(ws_conn_send_text(c, "hello poll", 10), WS_STATUS_OK, "client sends text");
  CHECK(pump(&cr, &cr.n_msg, 1, WAIT_MS, 0, &dispatched, &bad), "echo arrives through two dispatches");
  CHECK(msg_is(&sr, WS_MESSAGE_TEXT, "hello poll", 10) && msg_is(&cr, WS_MESSAGE_TEXT, "hello poll", 10),
        "server got it, client got the echo");
  CHECK(dispatched == rec_get(&sr, &sr.n_total) + rec_get(&cr, &cr.n_total) - before,
        "ws_dispatch counts match the callbacks (%d)", dispatched);
  CHECK(sr.echo_failures == 0, "the echo (ws_conn_send inside ws_dispatch) succeeded");
  CHECK(!readable(50) && ws_dispatch(0) == 0, "drained again: not readable, dispatch 0");

  /* ping/pong */
  CHECK_STATUS(ws_conn_ping(c, (const uint8_t *)"pp", 2), WS_STATUS_OK, "client pings");
  CHECK(pump(&cr, &cr.n_pong, 1, WAIT_MS, 0, &dispatched, &bad) && cr.pong_len == 2 && memcmp(cr.pong, "pp", 2) == 0,
        "client on_pong via dispatch");
  CHECK(pump(&sr, &sr.n_ping, 1, WAIT_MS, 0, &dispatched, &bad) && sr.ping_len == 2, "server on_ping via dispatch");

  /* at most max_events per call, in order */
  pthread_mutex_lock(&sr.mu);
  sr.echo = 0;
  pthread_mutex_unlock(&sr.mu);
  int base = rec_get(&sr, &sr.n_msg);
  CHECK(ws_conn_send_text(c, "m1", 2) == 0 && ws_conn_send_text(c, "m2", 2) == 0 &&
            ws_conn_send_text(c, "m3", 2) == 0,
        "send m1, m2, m3");
  int order_ok = 1, single_bad = 0, got = 0;
  long long end = now_ms() + WAIT_MS;
  while (got < 3 && now_ms() < end) {
    readable(50);
    int n = ws_dispatch(1);
    if (n < 0 || n > 1) single_bad++;
    int now = rec_get(&sr, &sr.n_msg) - base;
    if (now > got) {
      char want[3] = {'m', (char)('0' + now), 0};
      if (now != got + 1 || !msg_is(&sr, WS_MESSAGE_TEXT, want, 2)) order_ok = 0;
      got = now;
    }
  }
  CHECK(got == 3, "three messages dispatched one at a time");
  CHECK(single_bad == 0, "ws_dispatch(1) never ran more than one event");
  CHECK(order_ok, "in order m1, m2, m3");

  /* large messages through a 64 KiB queue: flow control, no deadlock */
  enum { BIG = 200 * 1024 };
  uint8_t *big = malloc(BIG);
  base = rec_get(&sr, &sr.n_msg);
  int sent_ok = 1;
  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < BIG; i++) big[i] = (uint8_t)(i + (size_t)k * 31);
    sent_ok &= ws_conn_send_binary(c, big, BIG) == WS_STATUS_OK;
    CHECK(pump(&sr, &sr.n_msg, base + k + 1, WAIT_MS, 0, &dispatched, &bad) && msg_is(&sr, WS_MESSAGE_BINARY, big, BIG),
          "200 KiB message %d through the 64 KiB event queue", k + 1);
  }
  CHECK(sent_ok, "the sends were accepted");
  free(big);

  /* close from the client; both on_close on this thread */
  CHECK_STATUS(ws_conn_close(c, 4001, "poll bye"), WS_STATUS_OK, "client closes 4001");
  CHECK(pump(&sr, &sr.n_close, 1, WAIT_MS, 0, &dispatched, &bad) && sr.close_code == 4001 &&
            str_eq_reason(&sr, "poll bye"),
        "server on_close(4001, \"poll bye\") via dispatch (got %d)", sr.close_code);
  CHECK(pump(&cr, &cr.n_close, 1, WAIT_MS, 0, &dispatched, &bad) && cr.close_code == 4001,
        "client on_close(4001) via dispatch (got %d)", cr.close_code);
  CHECK_STATUS(ws_conn_wait_closed(c, WAIT_MS), WS_STATUS_OK, "wait_closed");
  CHECK(bad == 0, "no bad ws_dispatch result");
  CHECK(sr.wrong_thread == 0 && cr.wrong_thread == 0, "every polled callback ran on the main thread (%d, %d elsewhere)",
        sr.wrong_thread, cr.wrong_thread);
  CHECK(sr.on_main_thread > 0 && cr.on_main_thread > 0, "(%d server and %d client callbacks seen)", sr.on_main_thread,
        cr.on_main_thread);
  CHECK(sr.n_error == 0 && cr.n_error == 0, "no on_error");
  ws_client_free(cl);
  ws_server_free(srv);
  CHECK(drain(100) == 0, "nothing left to dispatch");
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ mixed modes */

static void test_mixed(void) {
  note("a polled server with a thread-mode client");
  rec sr, cr;
  rec_init(&sr, "poll-server");
  rec_init(&cr, "thread-client");
  watch_thread(&sr);
  watch_thread(&cr);
  sr.echo = 1;
  ws_server *srv = poll_server(&sr);
  ws_client *cl = client_to(srv, "/", &cr, WS_DISPATCH_THREAD);
  ws_conn *c = ws_client_conn(cl);
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "opens");
  CHECK(rec_wait(&cr, &cr.n_open, 1, WAIT_MS), "thread-mode client on_open without any ws_dispatch");
  int d = 0, bad = 0;
  CHECK_STATUS(ws_conn_send_text(c, "mixed", 5), WS_STATUS_OK, "send");
  CHECK(pump(&sr, &sr.n_msg, 1, WAIT_MS, 0, &d, &bad), "the polled server gets the message via dispatch");
  CHECK(rec_wait(&cr, &cr.n_msg, 1, WAIT_MS) && msg_is(&cr, WS_MESSAGE_TEXT, "mixed", 5),
        "the thread-mode client gets the echo on its own");
  CHECK(sr.wrong_thread == 0, "polled callbacks on the main thread");
  CHECK(cr.on_main_thread == 0 && cr.wrong_thread > 0, "thread-mode callbacks on the I/O thread");
  ws_client_free(cl);
  CHECK(pump(&sr, &sr.n_close, 1, WAIT_MS, 0, &d, &bad) && sr.close_code == WS_GONE, "server on_close(1001)");
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ frees with queued events */

static void test_free_drops_queued(void) {
  note("freeing a polled server or client drops its queued events");
  rec sr, cr;
  rec_init(&sr, "poll-server");
  rec_init(&cr, "thread-client");
  ws_server *srv = poll_server(&sr);
  ws_client *cl = client_to(srv, "/", &cr, WS_DISPATCH_THREAD);
  ws_conn *c = ws_client_conn(cl);
  int d = 0, bad = 0;
  CHECK(pump(&sr, &sr.n_open, 1, WAIT_MS, 0, &d, &bad), "server on_open");
  CHECK_STATUS(ws_conn_wait_open(c, WAIT_MS), WS_STATUS_OK, "the client is open");
  CHECK(!readable(0), "drained");
  int sends = 0;
  for (int i = 0; i < 5; i++) sends += ws_conn_send_text(c, "queued", 6) == WS_STATUS_OK;
  sends += ws_conn_ping(c, (const uint8_t *)"q", 1) == WS_STATUS_OK;
  CHECK(sends == 6, "5 messages and a ping sent");
  CHECK(readable(WAIT_MS), "events are queued (fd readable)");
  CHECK(rec_wait(&cr, &cr.n_pong, 1, WAIT_MS), "the server read everything (its automatic pong came back)");
  int before = rec_get(&sr, &sr.n_total);
  ws_server_free(srv);
  CHECK(!readable(0), "the fd is not readable after ws_server_free purged the queue");
  CHECK(ws_dispatch(0) == 0, "ws_dispatch -> 0: the queued events were dropped");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_GONE, "the client sees 1001");
  CHECK(drain(200) == 0 && rec_get(&sr, &sr.n_total) == before, "no server callback after ws_server_free");
  ws_client_free(cl);
  rec_destroy(&sr);
  rec_destroy(&cr);

  /* a polled client */
  rec_init(&sr, "thread-server");
  rec_init(&cr, "poll-client");
  sr.echo = 1;
  srv = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  cl = client_to(srv, "/", &cr, WS_DISPATCH_POLL);
  c = ws_client_conn(cl);
  CHECK(pump(&cr, &cr.n_open, 1, WAIT_MS, 0, &d, &bad), "polled client on_open");
  sends = 0;
  for (int i = 0; i < 3; i++) sends += ws_conn_send_text(c, "echo me", 7) == WS_STATUS_OK;
  CHECK(sends == 3, "3 messages sent");
  CHECK(rec_wait(&sr, &sr.n_msg, 3, WAIT_MS), "the server echoed 3 messages");
  CHECK(readable(WAIT_MS), "the echoes are queued");
  sleep_ms(100);
  before = rec_get(&cr, &cr.n_total);
  ws_client_free(cl);
  CHECK(!readable(0) && ws_dispatch(0) == 0, "ws_client_free dropped the queued echoes");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == WS_GONE, "the server sees 1001");
  CHECK(drain(200) == 0 && rec_get(&cr, &cr.n_total) == before, "no client callback after ws_client_free");
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ frees inside polled callbacks */

static void test_free_in_poll_callbacks(void) {
  note("ws_server_free / ws_client_free inside a polled callback");
  rec sr, cr;
  rec_init(&sr, "poll-server");
  rec_init(&cr, "thread-client");
  ws_server *srv = poll_server(&sr);
  pthread_mutex_lock(&sr.mu);
  sr.server = srv;
  pthread_mutex_unlock(&sr.mu);
  ws_client *cl = client_to(srv, "/", &cr, WS_DISPATCH_THREAD);
  int d = 0, bad = 0;
  CHECK(pump(&sr, &sr.n_open, 1, WAIT_MS, 0, &d, &bad), "server on_open");
  CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "the client is open");
  CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "free-server", 11), WS_STATUS_OK, "send " "free-server");
  CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "after", 5), WS_STATUS_OK, "send " "after");
  CHECK(pump(&sr, &sr.freed_in_callback, 1, WAIT_MS, 0, &d, &bad), "ws_server_free inside ws_dispatch returned");
  CHECK(rec_wait(&cr, &cr.n_close, 1, WAIT_MS) && cr.close_code == WS_GONE, "the client sees 1001");
  drain(200);
  CHECK(rec_get(&sr, &sr.n_msg) == 1 && rec_get(&sr, &sr.n_close) == 0,
        "no server callback after the free (messages %d, closes %d)", rec_get(&sr, &sr.n_msg),
        rec_get(&sr, &sr.n_close));
  ws_client_free(cl);
  rec_destroy(&sr);
  rec_destroy(&cr);

  rec_init(&sr, "thread-server");
  rec_init(&cr, "poll-client");
  sr.echo = 1;
  srv = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  cl = client_to(srv, "/", &cr, WS_DISPATCH_POLL);
  CHECK(pump(&cr, &cr.n_open, 1, WAIT_MS, 0, &d, &bad), "polled client on_open");
  pthread_mutex_lock(&cr.mu);
  cr.client = cl;
  pthread_mutex_unlock(&cr.mu);
  CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "free-client", 11), WS_STATUS_OK, "send " "free-client");
  CHECK(pump(&cr, &cr.freed_in_callback, 1, WAIT_MS, 0, &d, &bad), "ws_client_free inside ws_dispatch returned");
  CHECK(rec_wait(&sr, &sr.n_close, 1, WAIT_MS) && sr.close_code == WS_GONE, "the server sees 1001");
  CHECK(drain(200) == 0 && rec_get(&cr, &cr.n_close) == 0, "no client callback after the free");
  ws_server_free(srv);
  rec_destroy(&sr);
  rec_destroy(&cr);
}

/* ------------------------------------------------------------ ws_dispatch from a callback */

/* Globals (external and volatile, so the stores are kept) so that, if the
 * nested dispatch hangs, what is abandoned stays reachable for valgrind. */
ws_server *volatile g_nested_server;
ws_client *volatile g_nested_client;
static rec g_nested_rec;
static rec g_nested_client_rec;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int result;
} outer_call;

static void *outer_dispatch(void *arg) {
  outer_call *o = arg;
  int n = ws_dispatch(1);
  pthread_mutex_lock(&o->mu);
  o->done = 1;
  o->result = n;
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
  return NULL;
}

/* Last: if the nested call deadlocks, its server and thread are abandoned. */
static void test_nested_dispatch(void) {
  note("ws_dispatch called from inside a polled callback (\"any library function may be called from a callback\")");
  rec *sr = &g_nested_rec;
  rec *crp = &g_nested_client_rec;
  rec_init(sr, "poll-server");
  rec_init(crp, "thread-client");
  g_nested_server = poll_server(sr);
  g_nested_client = client_to(g_nested_server, "/", crp, WS_DISPATCH_THREAD);
  ws_client *cl = g_nested_client;
  int d = 0, bad = 0;
  CHECK(pump(sr, &sr->n_open, 1, WAIT_MS, 0, &d, &bad), "server on_open");
  CHECK_STATUS(ws_conn_wait_open(ws_client_conn(cl), WAIT_MS), WS_STATUS_OK, "the client is open");
  CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "n1", 2), WS_STATUS_OK, "send " "n1");
  CHECK_STATUS(ws_conn_send_text(ws_client_conn(cl), "n2", 2), WS_STATUS_OK, "send " "n2");
  CHECK_STATUS(ws_conn_ping(ws_client_conn(cl), NULL, 0), WS_STATUS_OK, "ping");
  CHECK(rec_wait(crp, &crp->n_pong, 1, WAIT_MS), "both messages reached the server (its pong came back)");
  CHECK(readable(WAIT_MS), "they are queued");
  pthread_mutex_lock(&sr->mu);
  sr->dispatch_in_cb = 1; /* on_message("n1") calls ws_dispatch(0), which runs "n2" and the ping */
  pthread_mutex_unlock(&sr->mu);
  outer_call o;
  memset(&o, 0, sizeof o);
  pthread_mutex_init(&o.mu, NULL);
  pthread_cond_init(&o.cv, NULL);
  pthread_t t;
  pthread_create(&t, NULL, outer_dispatch, &o);
  struct timespec dl;
  deadline_in(&dl, WAIT_MS);
  pthread_mutex_lock(&o.mu);
  while (!o.done && pthread_cond_timedwait(&o.cv, &o.mu, &dl) != ETIMEDOUT) {
  }
  int done = o.done;
  pthread_mutex_unlock(&o.mu);
  CHECK(done, "a nested ws_dispatch(0) inside on_message returns (no deadlock)");
  if (!done) {
    note("the nested ws_dispatch hung: abandoning its server and thread");
    pthread_detach(t);
    /* Do not free the client either: its close would queue more events. */
    return;
  }
  pthread_join(t, NULL);
  CHECK(o.result == 1, "the outer ws_dispatch(1) ran one event (got %d)", o.result);
  CHECK(sr->dispatch_in_cb_result == 2, "the nested ws_dispatch(0) ran the other two (got %d)",
        sr->dispatch_in_cb_result);
  CHECK(rec_get(sr, &sr->n_msg) == 2 && rec_get(sr, &sr->n_ping) == 1, "all three events delivered once");
  ws_client_free(cl);
  ws_server_free(g_nested_server);
  g_nested_server = NULL;
  g_nested_client = NULL;
  pthread_mutex_destroy(&o.mu);
  pthread_cond_destroy(&o.cv);
  rec_destroy(sr);
  rec_destroy(crp);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  g_main = pthread_self();
  CB = rec_callbacks();
  test_queue_setup();
  test_poll_session();
  test_mixed();
  test_free_drops_queued();
  test_free_in_poll_callbacks();
  test_nested_dispatch();
  return check_summary();
}
