/*
 * test_stress: 4 I/O threads and 1000 clients at once, in WS_DISPATCH_THREAD
 * mode (callbacks on the I/O threads).
 *
 * Checks that connections are spread over all the threads; that each
 * connection's callbacks run on one thread, never overlap, and see its
 * messages in order (both ends); that no callback runs after ws_server_free /
 * ws_client_free returns, even while messages are flowing; and that stopping
 * a busy server closes every client cleanly (1001) with nothing left open.
 *
 * STRESS_CLIENTS (default 1000) and STRESS_MESSAGES (default 20) scale it.
 */
#include <stdatomic.h>
#include <sys/resource.h>

#include "check.h"

#define THREADS 4

static int n_clients = 1000;
static int n_messages = 20;

/* ---------------------------------------------------------------- one end */

/* What one end of a connection has seen. */
typedef struct {
  atomic_int in_callback; /* callbacks running now: must never exceed 1 */
  atomic_int overlaps;    /* times a callback found another one running */
  pthread_t thread;       /* the thread of its first callback */
  atomic_int thread_set;
  atomic_int other_thread; /* callbacks seen on another thread */
  atomic_int next;         /* the sequence number expected next */
  atomic_int out_of_order;
  atomic_int opened, closed, errors;
  atomic_int close_code;
} end_state;

static void enter(end_state *e) {
  if (atomic_fetch_add(&e->in_callback, 1) != 0) atomic_fetch_add(&e->overlaps, 1);
  if (!atomic_exchange(&e->thread_set, 1)) {
    e->thread = pthread_self();
  } else if (!pthread_equal(e->thread, pthread_self())) {
    atomic_fetch_add(&e->other_thread, 1);
  }
  /* Widen the window in which an overlap would be seen. */
  for (volatile int i = 0; i < 200; i++) {
  }
}

static void leave(end_state *e) { atomic_fetch_sub(&e->in_callback, 1); }

/* Parses "<id>:<seq>"; -1 when malformed. */
static int seq_of(const uint8_t *data, size_t len) {
  char buf[32];
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, data, len);
  buf[len] = 0;
  char *colon = strchr(buf, ':');
  return colon ? atoi(colon + 1) : -1;
}

/* ----------------------------------------------------------------- server */

typedef struct {
  atomic_int opened, closed, messages;
  atomic_int freed;             /* set once ws_server_free returned */
  atomic_int after_free;        /* callbacks that ran after it */
  atomic_int threads_seen[THREADS];
  pthread_t threads[THREADS];
  atomic_int n_threads;
  pthread_mutex_t mu;
  end_state *ends; /* one per accepted connection, in accept order */
  atomic_int n_ends;
  int capacity;
} server_state;

static void note_thread(server_state *s) {
  pthread_t me = pthread_self();
  int n = atomic_load(&s->n_threads);
  for (int i = 0; i < n; i++) {
    if (pthread_equal(s->threads[i], me)) return;
  }
  pthread_mutex_lock(&s->mu);
  n = atomic_load(&s->n_threads);
  int known = 0;
  for (int i = 0; i < n; i++) known |= pthread_equal(s->threads[i], me);
  if (!known && n < THREADS) {
    s->threads[n] = me;
    atomic_store(&s->n_threads, n + 1);
  }
  pthread_mutex_unlock(&s->mu);
}

static void s_open(void *ud, ws_conn *c) {
  server_state *s = ud;
  if (atomic_load(&s->freed)) atomic_fetch_add(&s->after_free, 1);
  int i = atomic_fetch_add(&s->n_ends, 1);
  if (i >= s->capacity) return;
  end_state *e = &s->ends[i];
  ws_conn_set_user_data(c, e);
  enter(e);
  note_thread(s);
  atomic_fetch_add(&e->opened, 1);
  atomic_fetch_add(&s->opened, 1);
  leave(e);
}

static void s_message(void *ud, ws_conn *c, ws_message_type type, const uint8_t *data, size_t len) {
  server_state *s = ud;
  if (atomic_load(&s->freed)) atomic_fetch_add(&s->after_free, 1);
  end_state *e = ws_conn_get_user_data(c);
  if (!e) return;
  enter(e);
  int seq = seq_of(data, len);
  if (seq != atomic_load(&e->next)) atomic_fetch_add(&e->out_of_order, 1);
  atomic_store(&e->next, seq + 1);
  atomic_fetch_add(&s->messages, 1);
  ws_conn_send(c, type, data, len); /* echo: on this thread, straight to the socket */
  leave(e);
}

static void s_close(void *ud, ws_conn *c, uint16_t code, const char *reason) {
  (void)reason;
  server_state *s = ud;
  if (atomic_load(&s->freed)) atomic_fetch_add(&s->after_free, 1);
  end_state *e = ws_conn_get_user_data(c);
  if (e) {
    enter(e);
    atomic_fetch_add(&e->closed, 1);
    atomic_store(&e->close_code, code);
    leave(e);
  }
  atomic_fetch_add(&s->closed, 1);
}

static ws_server *start_server(server_state *s, int capacity) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  s->capacity = capacity;
  s->ends = calloc((size_t)capacity, sizeof *s->ends);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = s_open;
  cb.on_message = s_message;
  cb.on_close = s_close;
  ws_server_config *cfg = ws_server_config_new();
  ws_server_config_set_max_connections(cfg, (uint64_t)capacity + 10);
  ws_server *srv = ws_server_listen("127.0.0.1", 0, cfg, &cb, s);
  ws_server_config_free(cfg);
  return srv;
}

static void free_server_state(server_state *s) {
  pthread_mutex_destroy(&s->mu);
  free(s->ends);
}

/* ---------------------------------------------------------------- clients */

typedef struct client client;
typedef struct {
  atomic_int done;       /* clients that got their first n_messages echoes */
  atomic_int closed;     /* clients whose on_close ran */
  atomic_int after_free; /* callbacks of a client after its ws_client_free */
  atomic_int messages;   /* echoes received, all clients */
  atomic_int errors;
  char first_error[160]; /* the message of the first error, for the report */
} clients_state;

struct client {
  clients_state *all;
  end_state end;
  int id;
  atomic_int freed; /* set once its ws_client_free returned */
};

static void send_numbered(ws_conn *c, int id, int seq) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d:%d", id, seq);
  ws_conn_send_text(c, buf, (size_t)n);
}

static void c_open(void *ud, ws_conn *c) {
  client *cl = ud;
  if (atomic_load(&cl->freed)) atomic_fetch_add(&cl->all->after_free, 1);
  enter(&cl->end);
  atomic_fetch_add(&cl->end.opened, 1);
  /* All messages pipelined at once, from the connection's own thread. */
  for (int i = 0; i < n_messages; i++) send_numbered(c, cl->id, i);
  leave(&cl->end);
}

static void c_message(void *ud, ws_conn *c, ws_message_type type, const uint8_t *data, size_t len) {
  (void)type;
  client *cl = ud;
  if (atomic_load(&cl->freed)) atomic_fetch_add(&cl->all->after_free, 1);
  enter(&cl->end);
  int seq = seq_of(data, len);
  if (seq != atomic_load(&cl->end.next)) atomic_fetch_add(&cl->end.out_of_order, 1);
  atomic_store(&cl->end.next, seq + 1);
  atomic_fetch_add(&cl->all->messages, 1);
  if (seq + 1 == n_messages) atomic_fetch_add(&cl->all->done, 1);
  /* Keep n_messages in flight until the end: send the next one. */
  send_numbered(c, cl->id, seq + n_messages);
  leave(&cl->end);
}

static void c_error(void *ud, ws_conn *c, ws_status status, const char *message) {
  (void)c, (void)status;
  client *cl = ud;
  if (atomic_fetch_add(&cl->all->errors, 1) == 0)
    snprintf(cl->all->first_error, sizeof cl->all->first_error, "%s", message ? message : "");
}

static void c_close(void *ud, ws_conn *c, uint16_t code, const char *reason) {
  (void)c, (void)reason;
  client *cl = ud;
  if (atomic_load(&cl->freed)) atomic_fetch_add(&cl->all->after_free, 1);
  enter(&cl->end);
  atomic_fetch_add(&cl->end.closed, 1);
  atomic_store(&cl->end.close_code, code);
  leave(&cl->end);
  atomic_fetch_add(&cl->all->closed, 1);
}

static ws_client **connect_all(client *clients, clients_state *all, int port) {
  ws_client **handles = calloc((size_t)n_clients, sizeof *handles);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  ws_callbacks cb = WS_CALLBACKS_INIT;
  cb.on_open = c_open;
  cb.on_message = c_message;
  cb.on_error = c_error;
  cb.on_close = c_close;
  for (int i = 0; i < n_clients; i++) {
    clients[i].all = all;
    clients[i].id = i;
    handles[i] = ws_client_connect(url, NULL, &cb, &clients[i]);
  }
  return handles;
}

static int wait_count(atomic_int *v, int want, int ms) {
  long long end = now_ms() + ms;
  while (atomic_load(v) < want && now_ms() < end) sleep_ms(5);
  return atomic_load(v) >= want;
}

/* Checks every end of `ends`: one thread, no overlap, in order, all seen. */
static void check_ends(const char *what, end_state *ends, int stride_bytes, int n, int want_next) {
  int overlaps = 0, other_thread = 0, out_of_order = 0, short_of = 0;
  for (int i = 0; i < n; i++) {
    end_state *e = (end_state *)((char *)ends + (size_t)i * (size_t)stride_bytes);
    overlaps += atomic_load(&e->overlaps);
    other_thread += atomic_load(&e->other_thread);
    out_of_order += atomic_load(&e->out_of_order);
    if (want_next >= 0 && atomic_load(&e->next) != want_next) short_of++;
  }
  CHECK(overlaps == 0, "%s: no connection ever ran two callbacks at once (%d overlaps)", what, overlaps);
  CHECK(other_thread == 0, "%s: each connection's callbacks all ran on one thread (%d did not)", what,
        other_thread);
  CHECK(out_of_order == 0, "%s: every message arrived in order (%d out of order)", what, out_of_order);
  if (want_next >= 0) CHECK(short_of == 0, "%s: every connection saw all %d messages (%d did not)", what, want_next, short_of);
}

/* ------------------------------------------------------------------ tests */

/* 1000 clients echo in order through a 4-thread server; then a clean stop. */
static void test_order_and_clean_stop(void) {
  note("order on %d connections over %d threads, then a clean stop", n_clients, THREADS);
  server_state s;
  ws_server *srv = start_server(&s, n_clients);
  CHECK(srv != NULL, "server listens (%s)", srv ? "" : ws_last_error_message());
  if (!srv) return;
  clients_state all;
  memset(&all, 0, sizeof all);
  client *clients = calloc((size_t)n_clients, sizeof *clients);
  ws_client **handles = connect_all(clients, &all, ws_server_port(srv));

  CHECK(wait_count(&all.done, n_clients, 60000), "all %d clients got their %d echoes (%d did)", n_clients,
        n_messages, atomic_load(&all.done));
  CHECK(atomic_load(&all.errors) == 0, "no client error (%d; first: %s)", atomic_load(&all.errors),
        all.first_error);
  CHECK(atomic_load(&s.n_threads) == THREADS, "server callbacks ran on all %d I/O threads (%d)", THREADS,
        atomic_load(&s.n_threads));
  CHECK(ws_server_connection_count(srv) == (size_t)n_clients, "the server counts %d connections (%zu)",
        n_clients, ws_server_connection_count(srv));

  /* Stop while traffic still flows: every client gets 1001, nothing stays open. */
  CHECK_STATUS(ws_server_stop(srv), WS_STATUS_OK, "ws_server_stop");
  CHECK_STATUS(ws_server_wait_closed(srv, 30000), WS_STATUS_OK, "ws_server_wait_closed: every connection closed");
  CHECK(wait_count(&all.closed, n_clients, 30000), "every client's on_close ran (%d)", atomic_load(&all.closed));
  int not_1001 = 0, not_once = 0;
  for (int i = 0; i < n_clients; i++) {
    if (atomic_load(&clients[i].end.close_code) != WS_GONE) not_1001++;
    if (atomic_load(&clients[i].end.closed) != 1 || atomic_load(&clients[i].end.opened) != 1) not_once++;
  }
  CHECK(not_1001 == 0, "every client closed with 1001 going away (%d did not)", not_1001);
  CHECK(not_once == 0, "every client opened once and closed once (%d did not)", not_once);
  CHECK(wait_count(&s.closed, n_clients, 10000), "every server connection's on_close ran (%d)",
        atomic_load(&s.closed));
  check_ends("server", s.ends, sizeof(end_state), n_clients, -1);
  check_ends("clients", &clients[0].end, sizeof(client), n_clients, -1);
  ws_server_free(srv);
  for (int i = 0; i < n_clients; i++) ws_client_free(handles[i]);
  free(handles);
  free(clients);
  free_server_state(&s);
}

/* Freeing a busy server or busy clients: no callback after the free returns. */
static void test_no_callback_after_free(void) {
  note("freeing while messages flow on %d connections", n_clients);
  server_state s;
  ws_server *srv = start_server(&s, n_clients);
  if (!srv) return;
  clients_state all;
  memset(&all, 0, sizeof all);
  client *clients = calloc((size_t)n_clients, sizeof *clients);
  ws_client **handles = connect_all(clients, &all, ws_server_port(srv));
  CHECK(wait_count(&all.done, n_clients, 60000), "all clients are busy echoing (%d)", atomic_load(&all.done));

  /* Half the clients go while messages are in flight. */
  for (int i = 0; i < n_clients; i += 2) {
    ws_client_free(handles[i]);
    atomic_store(&clients[i].freed, 1);
  }
  int before = atomic_load(&all.messages);
  sleep_ms(200);
  CHECK(atomic_load(&all.messages) > before, "the clients not freed keep echoing (%d more echoes)",
        atomic_load(&all.messages) - before);
  CHECK(atomic_load(&all.after_free) == 0, "no callback of a client after its ws_client_free returned (%d)",
        atomic_load(&all.after_free));

  /* Now the server, with half its connections still busy. */
  ws_server_free(srv);
  atomic_store(&s.freed, 1);
  sleep_ms(300);
  CHECK(atomic_load(&s.after_free) == 0, "no server callback after ws_server_free returned (%d)",
        atomic_load(&s.after_free));
  for (int i = 1; i < n_clients; i += 2) {
    ws_client_free(handles[i]);
    atomic_store(&clients[i].freed, 1);
  }
  sleep_ms(100);
  CHECK(atomic_load(&all.after_free) == 0, "no client callback after ws_client_free returned (%d)",
        atomic_load(&all.after_free));
  free(handles);
  free(clients);
  free_server_state(&s);
}

int main(void) {
  const char *env;
  if ((env = getenv("STRESS_CLIENTS")) && atoi(env) > 0) n_clients = atoi(env);
  if ((env = getenv("STRESS_MESSAGES")) && atoi(env) > 0) n_messages = atoi(env);
  /* Two sockets per client in one process. */
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  CHECK_STATUS(ws_set_io_threads(THREADS), WS_STATUS_OK, "ws_set_io_threads(4) before first use");
  CHECK(ws_io_threads() == THREADS, "ws_io_threads() == 4 (%d)", ws_io_threads());
  EXPECT_STATUS(ws_set_io_threads(2), WS_ERR_BAD_STATE, "ws_set_io_threads(2) once running");
  CHECK_STATUS(ws_set_io_threads(THREADS), WS_STATUS_OK, "ws_set_io_threads(4) again: what runs");
  EXPECT_STATUS(ws_set_io_threads(257), WS_ERR_INVALID_ARGUMENT, "ws_set_io_threads(257)");
  test_order_and_clean_stop();
  test_no_callback_after_free();
  return check_summary();
}
