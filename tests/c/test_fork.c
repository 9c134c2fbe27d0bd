/*
 * test_fork: fork() after the library has started.
 *
 * The parent runs a server and a client connected to it, then forks. The
 * child finds every inherited handle refused at once (WS_ERR_BAD_STATE, "this
 * handle belongs to the parent process"), frees them safely, and runs a NEW
 * server and a NEW client of its own that echo. The parent checks the child's
 * exit status, and that its own connection and a new one still work.
 *
 * The child prints its checks too and exits with 0 only when all passed;
 * alarm() bounds it, so a hang fails the test instead of blocking it.
 *
 * Under valgrind (tests/run-c-tests.sh) the child runs under it too, and a
 * memory error there fails its checks; but its leak check at exit cannot be
 * used: the memory of the parent's I/O threads, which the child abandons by
 * design, was reachable only from those threads' stacks, which the child does
 * not have, so valgrind counts it as definitely lost. So under valgrind the
 * child ends by exec()ing true or false, which skips that check.
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

#include <signal.h>
#include <sys/wait.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* Seconds the child may take before SIGALRM ends it (valgrind is slow). */
#define CHILD_LIMIT_S 120

static ws_callbacks CB; /* every callback of check.h's recorder */

/* Memory errors valgrind found so far (0 when not under valgrind). */
static unsigned errors_now(void) {
#ifdef HAVE_MEMCHECK
  return VALGRIND_COUNT_ERRORS;
#else
  return 0;
#endif
}

/* Ends the child with `status` (0 or 1), without valgrind's leak check at exit (see above). */
static void child_exit(int status) {
  fflush(stdout);
#ifdef HAVE_MEMCHECK
  if (RUNNING_ON_VALGRIND) {
    const char *program = status == 0 ? "true" : "false";
    execlp(program, program, (char *)NULL);
  }
#endif
  _exit(status);
}

static int has_text(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

/* The last call failed because its handle is the parent's. */
#define CHECK_INHERITED(expr, what)                                                     \
  do {                                                                                 \
    poison_last_error(WS_ERR_BAD_STATE);                                               \
    CHECK_STATUS(expr, WS_ERR_BAD_STATE, what);                                        \
    CHECK(has_text(ws_last_error_message(), "this handle belongs to the parent process"), \
          "%s: the message says so (\"%s\")", what, last_msg());                         \
  } while (0)

/* A client connection to 127.0.0.1:port; the client, or NULL. */
static ws_client *connect_to(int port, rec *r) {
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  return ws_client_connect(url, NULL, &CB, r);
}

/* Sends `text` on `conn` and waits for the echo recorded in `r`. */
static int echoes(ws_conn *conn, rec *r, const char *text) {
  int before = rec_get(r, &r->n_msg);
  if (ws_conn_send_text(conn, text, strlen(text)) != WS_STATUS_OK) return 0;
  if (!rec_wait(r, &r->n_msg, before + 1, WAIT_MS)) return 0;
  pthread_mutex_lock(&r->mu);
  int same = r->msg_len == strlen(text) && memcmp(r->msg, text, r->msg_len) == 0;
  pthread_mutex_unlock(&r->mu);
  return same;
}

/* The child: inherited handles fail, new ones work. Returns its exit status. */
static int child(ws_server *server, ws_client *client, ws_conn *conn, ws_conn *retained, int parent_fd) {
  alarm(CHILD_LIMIT_S);
  g_passed = g_failed = 0;
  unsigned errors_at_fork = errors_now();
  note("child %d: inherited handles", (int)getpid());

  CHECK_INHERITED(ws_conn_send_text(conn, "x", 1), "send on the inherited connection");
  CHECK_INHERITED(ws_conn_ping(conn, NULL, 0), "ping on the inherited connection");
  CHECK_INHERITED(ws_conn_close(conn, WS_OK, "bye"), "close of the inherited connection");
  CHECK_INHERITED(ws_conn_wait_open(conn, -1), "wait_open (no limit) on the inherited connection");
  CHECK_INHERITED(ws_conn_wait_closed(conn, -1), "wait_closed (no limit) on the inherited connection");
  CHECK_INHERITED(ws_conn_state(conn), "state of the inherited connection");
  poison_last_error(WS_ERR_BAD_STATE);
  CHECK_NULL_ERR(ws_conn_retain(retained), WS_ERR_BAD_STATE, "retain of the inherited connection");
  poison_last_error(WS_ERR_BAD_STATE);
  CHECK(ws_conn_buffered_amount(conn) == 0 && ws_last_error_code() == WS_ERR_BAD_STATE,
        "buffered_amount of the inherited connection: 0 and WS_ERR_BAD_STATE");
  poison_last_error(WS_ERR_BAD_STATE);
  CHECK_NULL_ERR(ws_client_conn(client), WS_ERR_BAD_STATE, "ws_client_conn of the inherited client");

  CHECK_INHERITED(ws_server_stop(server), "stop of the inherited server");
  CHECK_INHERITED(ws_server_wait_closed(server, -1), "wait_closed (no limit) on the inherited server");
  CHECK_INHERITED(ws_server_broadcast(server, WS_MESSAGE_TEXT, (const uint8_t *)"x", 1),
                  "broadcast on the inherited server");
  CHECK_INHERITED(ws_server_connections(server, NULL, 0), "connections of the inherited server");
  poison_last_error(WS_ERR_BAD_STATE);
  CHECK(ws_server_port(server) == 0 && ws_last_error_code() == WS_ERR_BAD_STATE,
        "port of the inherited server: 0 and WS_ERR_BAD_STATE");
  poison_last_error(WS_ERR_BAD_STATE);
  CHECK(ws_server_connection_count(server) == 0 && ws_last_error_code() == WS_ERR_BAD_STATE,
        "connection_count of the inherited server: 0 and WS_ERR_BAD_STATE");

  int fd = ws_event_fd();
  CHECK(fd >= 0 && fd != parent_fd, "the child has an event fd of its own (%d, the parent's %d)", fd, parent_fd);

  note("child: new handles");
  rec sr, cr;
  rec_init(&sr, "child server");
  rec_init(&cr, "child client");
  sr.echo = 1;
  ws_server *mine = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  CHECK(mine != NULL, "a new server listens in the child (%s)", mine ? "ok" : last_msg());
  int port = mine ? ws_server_port(mine) : 0;
  ws_client *c = port ? connect_to(port, &cr) : NULL;
  CHECK(c != NULL, "a new client in the child (%s)", c ? "ok" : last_msg());
  ws_conn *cc = c ? ws_client_conn(c) : NULL;
  if (cc) {
    CHECK_STATUS(ws_conn_wait_open(cc, WAIT_MS), WS_STATUS_OK, "the new client connects to the new server");
    CHECK(rec_wait(&sr, &sr.n_open, 1, WAIT_MS), "the new server accepted it");
    CHECK(echoes(cc, &cr, "hello from the child"), "the child's server echoes the child's client");
    CHECK_STATUS(ws_conn_close(cc, WS_OK, "done"), WS_STATUS_OK, "the child closes its client");
    CHECK_STATUS(ws_conn_wait_closed(cc, WAIT_MS), WS_STATUS_OK, "and the close handshake completes");
  }

  /* Freeing the parent's handles only forgets them: no crash, no hang. */
  ws_conn_release(retained);
  ws_client_free(client);
  ws_server_free(server);
  CHECK(1, "the inherited handles were freed");

  ws_client_free(c);
  ws_server_free(mine);
  rec_destroy(&cr);
  rec_destroy(&sr);
  CHECK(errors_now() == errors_at_fork, "no memory errors in the child (%u)", errors_now() - errors_at_fork);
  note("child: %d passed, %d failed", g_passed, g_failed);
  return g_failed > 0 ? 1 : 0;
}

int main(void) {
  CB = rec_callbacks();
  rec sr, cr;
  rec_init(&sr, "server");
  rec_init(&cr, "client");
  sr.echo = 1;

  ws_server *server = ws_server_listen("127.0.0.1", 0, NULL, &CB, &sr);
  if (!CHECK(server != NULL, "the parent's server listens (%s)", server ? "ok" : last_msg())) return check_summary();
  int port = ws_server_port(server);
  ws_client *client = connect_to(port, &cr);
  ws_conn *conn = client ? ws_client_conn(client) : NULL;
  if (!CHECK(conn != NULL, "the parent's client (%s)", conn ? "ok" : last_msg())) return check_summary();
  CHECK_STATUS(ws_conn_wait_open(conn, WAIT_MS), WS_STATUS_OK, "the parent's client connects");
  CHECK(echoes(conn, &cr, "before the fork"), "the parent's connection echoes before the fork");
  ws_conn *retained = ws_conn_retain(conn);
  int parent_fd = ws_event_fd();
  CHECK(parent_fd >= 0, "the parent's event fd");

  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    child_exit(child(server, client, conn, retained, parent_fd));
  }
  if (!CHECK(pid > 0, "fork")) return check_summary();

  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid, "the child ends");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child passed its checks (%s %d)",
        WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

  CHECK(ws_conn_state(conn) == WS_STATE_OPEN, "the parent's connection is still open");
  CHECK(echoes(conn, &cr, "after the fork"), "the parent's connection still echoes");
  rec nr;
  rec_init(&nr, "new client");
  ws_client *again = connect_to(port, &nr);
  ws_conn *ac = again ? ws_client_conn(again) : NULL;
  CHECK(ac && ws_conn_wait_open(ac, WAIT_MS) == WS_STATUS_OK, "a new client of the parent connects");
  CHECK(ac && echoes(ac, &nr, "new after the fork"), "and echoes");

  ws_client_free(again);
  ws_conn_release(retained);
  CHECK_STATUS(ws_conn_close(conn, WS_OK, "done"), WS_STATUS_OK, "the parent closes its client");
  CHECK_STATUS(ws_conn_wait_closed(conn, WAIT_MS), WS_STATUS_OK, "and the close handshake completes");
  ws_client_free(client);
  ws_server_free(server);
  rec_destroy(&nr);
  rec_destroy(&cr);
  rec_destroy(&sr);
  return check_summary();
}
