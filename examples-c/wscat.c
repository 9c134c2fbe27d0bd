/*
 * wscat: a small command-line WebSocket client (like `nc` for WebSockets).
 *
 *   wscat URL [--binary] [--deflate] [--ca F] [--subprotocol P]... [-H 'K: V']...
 *             [--origin O] [--proxy URL] [--insecure] [--verbose]
 *
 * Connects to URL, then sends each line read from stdin (without its trailing
 * "\n") as one message: text by default, binary with --binary. A last line
 * without "\n" is sent too. Every message received is printed on stdout
 * followed by "\n" (binary messages as their raw bytes) and stdout is flushed
 * after each one. -H adds a header to the opening request (may be repeated).
 * --deflate offers permessage-deflate. For wss:// URLs the server's certificate
 * is checked against the system's CAs plus the CA file given with --ca;
 * --insecure skips the check (never do this outside a test). --verbose prints
 * the library's log lines on stderr (see verbose.h). --subprotocol
 * offers a subprotocol (may be repeated; the chosen one is printed on stderr as
 * "wscat: subprotocol: P"). --origin sends an Origin header. --proxy goes
 * through an HTTP CONNECT proxy ("" for none); by default https_proxy /
 * http_proxy / no_proxy are read as curl reads them.
 *
 * Ending, and the exit status:
 * - stdin EOF: wscat closes with 1000 and waits for the close handshake. If the
 *   server answers with 1000 (or with no code) it exits 0 silently.
 * - any other end (the server closed first, or answered our close with another
 *   code, or the connection dropped: 1006): wscat stops reading stdin at once,
 *   prints "wscat: closed: CODE REASON" on stderr and exits 0 if CODE is 1000,
 *   3 otherwise. A failure after the connection opened (protocol violation by
 *   the server, I/O error) is printed first, as "wscat: error: MESSAGE".
 *   E.g. the echo server's "close-me" gives "wscat: closed: 4000 bye", exit 3.
 * - the connection cannot be made (bad URL, refused, TLS or handshake failure,
 *   timeout): one line "wscat: MESSAGE" on stderr, exit 1.
 * - bad command line: usage on stderr, exit 2.
 * - a text line that is not valid UTF-8 is skipped with a warning on stderr.
 *
 * Threads: callbacks run on the library's I/O thread and are the only code
 * that writes to stdout. The main thread reads stdin with poll() + read(), so
 * it also notices at once (through a pipe written by on_close) when the
 * connection closes while it waits for input.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "verbose.h"
#include "websocket.h"

#define CLOSE_WAIT_MS 10000 /* > the library's 5 s close timeout */

/* State shared between the callbacks (I/O thread) and main. */
static struct {
  pthread_mutex_t lock;
  int closed;        /* on_close ran */
  int close_code;    /* its code */
  char reason[128];  /* its reason (at most 123 bytes) */
  char error[512];   /* message of the first on_error, "" if none */
  int wake_fd;       /* write end of the pipe that wakes main on close */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

/* Copies `src` into `dst` (size `cap`) on one line: CR/LF become spaces. */
static void copy_line(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < cap; i++) {
    dst[i] = (src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
  }
  dst[i] = '\0';
}

static void on_message(void *user_data, ws_conn *conn, ws_message_type type,
                       const uint8_t *data, size_t len) {
  (void)user_data;
  (void)conn;
  (void)type;
  fwrite(data, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void on_error(void *user_data, ws_conn *conn, ws_status status, const char *message) {
  (void)user_data;
  (void)conn;
  (void)status;
  pthread_mutex_lock(&st.lock);
  if (!st.error[0]) copy_line(st.error, sizeof st.error, message);
  pthread_mutex_unlock(&st.lock);
}

static void on_close(void *user_data, ws_conn *conn, uint16_t code, const char *reason) {
  (void)user_data;
  (void)conn;
  pthread_mutex_lock(&st.lock);
  st.closed = 1;
  st.close_code = code;
  copy_line(st.reason, sizeof st.reason, reason);
  pthread_mutex_unlock(&st.lock);
  if (write(st.wake_fd, "x", 1) < 0) { /* main also polls with a timeout */
  }
}

static int is_closed(void) {
  pthread_mutex_lock(&st.lock);
  int closed = st.closed;
  pthread_mutex_unlock(&st.lock);
  return closed;
}

static void usage(void) {
  fprintf(stderr,
          "usage: wscat URL [--binary] [--deflate] [--ca F] [--subprotocol P]... "
          "[-H 'K: V']... [--origin O] [--proxy URL] [--insecure] [--verbose]\n");
  exit(2);
}

/* Adds "-H 'Name: value'" to the configuration; exits 2 if it is malformed. */
static void add_header(ws_client_config *cfg, const char *arg) {
  const char *colon = strchr(arg, ':');
  if (!colon || colon == arg) {
    fprintf(stderr, "wscat: -H '%s': expected 'Name: value'\n", arg);
    exit(2);
  }
  size_t name_len = (size_t)(colon - arg);
  while (name_len > 0 && (arg[name_len - 1] == ' ' || arg[name_len - 1] == '\t')) name_len--;
  char *name = strndup(arg, name_len);
  const char *value = colon + 1;
  while (*value == ' ' || *value == '\t') value++;
  if (!name) {
    perror("wscat");
    exit(1);
  }
  if (ws_client_config_add_header(cfg, name, value) != WS_STATUS_OK) {
    fprintf(stderr, "wscat: -H '%s': %s\n", arg, ws_last_error_message());
    exit(2);
  }
  free(name);
}

/* Exits 2 with the library's reason when an option's value was refused. */
static void option(ws_status status, const char *name, const char *value) {
  if (status != WS_STATUS_OK) {
    fprintf(stderr, "wscat: %s '%s': %s\n", name, value, ws_last_error_message());
    exit(2);
  }
}

/* Sends one line; waits while the send queue is full. Returns 0, or -1 once
 * the connection no longer accepts messages. */
static int send_line(ws_conn *conn, int binary, const char *line, size_t len) {
  for (;;) {
    ws_status s = ws_conn_send(conn, binary ? WS_MESSAGE_BINARY : WS_MESSAGE_TEXT,
                               (const uint8_t *)line, len);
    if (s == WS_STATUS_OK || s == WS_STATUS_BACKPRESSURE) return 0;
    if (s == WS_ERR_QUEUE_FULL) {
      nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
      continue;
    }
    if (s == WS_ERR_INVALID_UTF8) {
      fprintf(stderr, "wscat: skipped a line that is not valid UTF-8 (use --binary)\n");
      return 0;
    }
    if (s == WS_ERR_NOT_OPEN) return -1;
    fprintf(stderr, "wscat: send: %s\n", ws_last_error_message());
    return -1;
  }
}

/* Reads stdin and sends its lines until EOF (returns 0) or until the
 * connection closes (returns -1). */
static int pump_stdin(ws_conn *conn, int binary, int wake_read_fd) {
  size_t cap = 64 * 1024, used = 0;
  char *buf = malloc(cap);
  if (!buf) {
    perror("wscat");
    exit(1);
  }
  int result = 0;
  for (;;) {
    struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                            {.fd = wake_read_fd, .events = POLLIN}};
    if (poll(fds, 2, 500) < 0 && errno != EINTR) {
      perror("wscat: poll");
      exit(1);
    }
    if (is_closed()) {
      result = -1;
      break;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;

    if (cap - used < 4096) { /* grow: lines may be arbitrarily long */
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        perror("wscat");
        exit(1);
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      perror("wscat: read stdin");
      exit(1);
    }
    if (n == 0) { /* EOF: send a last unterminated line, if any */
      if (used > 0 && send_line(conn, binary, buf, used) < 0) result = -1;
      break;
    }
    used += (size_t)n;

    /* Send every complete line in the buffer, keep the rest. */
    size_t start = 0;
    char *nl;
    while ((nl = memchr(buf + start, '\n', used - start)) != NULL) {
      size_t len = (size_t)(nl - (buf + start));
      if (send_line(conn, binary, buf + start, len) < 0) {
        free(buf);
        return -1;
      }
      start += len + 1;
    }
    memmove(buf, buf + start, used - start);
    used -= start;
  }
  free(buf);
  return result;
}

int main(int argc, char **argv) {
  const char *url = NULL;
  int binary = 0;
  ws_client_config *cfg = ws_client_config_new();
  if (!cfg) {
    fprintf(stderr, "wscat: %s\n", ws_last_error_message());
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--binary") == 0) {
      binary = 1;
    } else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
      add_header(cfg, argv[++i]);
    } else if (strcmp(argv[i], "--deflate") == 0) {
      ws_client_config_set_deflate(cfg, 1);
    } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
      option(ws_client_config_add_tls_ca_file(cfg, argv[i + 1]), argv[i], argv[i + 1]);
      i++;
    } else if (strcmp(argv[i], "--subprotocol") == 0 && i + 1 < argc) {
      option(ws_client_config_add_subprotocol(cfg, argv[i + 1]), argv[i], argv[i + 1]);
      i++;
    } else if (strcmp(argv[i], "--origin") == 0 && i + 1 < argc) {
      option(ws_client_config_set_origin(cfg, argv[i + 1]), argv[i], argv[i + 1]);
      i++;
    } else if (strcmp(argv[i], "--proxy") == 0 && i + 1 < argc) {
      option(ws_client_config_set_proxy(cfg, argv[i + 1]), argv[i], argv[i + 1]);
      i++;
    } else if (strcmp(argv[i], "--verbose") == 0) {
      verbose_logging();
    } else if (strcmp(argv[i], "--insecure") == 0) {
      ws_client_config_dangerous_disable_tls_verification(cfg);
    } else if (argv[i][0] != '-' && !url) {
      url = argv[i];
    } else {
      usage();
    }
  }
  if (!url) usage();

  /* A closed stdin reads as empty (and fd 0 must not be reused by the pipe). */
  if (fcntl(STDIN_FILENO, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != STDIN_FILENO) {
    perror("wscat: /dev/null");
    return 1;
  }
  int wake[2];
  if (pipe(wake) < 0) {
    perror("wscat: pipe");
    return 1;
  }
  st.wake_fd = wake[1];

  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_message = on_message;
  callbacks.on_error = on_error;
  callbacks.on_close = on_close;
  ws_client *client = ws_client_connect(url, cfg, &callbacks, NULL);
  ws_client_config_free(cfg);
  if (!client) { /* malformed URL or proxy variable, no trusted CA */
    fprintf(stderr, "wscat: %s\n", ws_last_error_message());
    return 1;
  }
  ws_conn *conn = ws_client_conn(client);

  /* The library's connect and handshake timeouts (10 s each) bound this wait. */
  if (ws_conn_wait_open(conn, -1) != WS_STATUS_OK) {
    char msg[512];
    copy_line(msg, sizeof msg, ws_last_error_message());
    ws_client_free(client);
    fprintf(stderr, "wscat: %s\n", msg[0] ? msg : st.error);
    return 1;
  }
  if (ws_conn_subprotocol(conn)[0]) fprintf(stderr, "wscat: subprotocol: %s\n", ws_conn_subprotocol(conn));

  int we_closed = 0;
  if (pump_stdin(conn, binary, wake[0]) == 0) {
    /* stdin EOF: close with 1000 and wait for the server's answer. */
    we_closed = ws_conn_close(conn, WS_OK, NULL) == WS_STATUS_OK;
  }
  int wait = ws_conn_wait_closed(conn, CLOSE_WAIT_MS);
  /* wait_closed may return just before on_close has run: give it a moment. */
  for (int i = 0; i < 200 && wait == WS_STATUS_OK && !is_closed(); i++) {
    nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
  }
  ws_client_free(client); /* no callback runs after this: st is ours now */

  int status;
  if (wait != WS_STATUS_OK || !st.closed) {
    fprintf(stderr, "wscat: the connection did not close within %d ms\n", CLOSE_WAIT_MS);
    status = 1;
  } else if (we_closed && (st.close_code == WS_OK || st.close_code == WS_NO_STATUS)) {
    status = 0; /* the server answered our close: the normal end */
  } else {
    if (st.error[0]) fprintf(stderr, "wscat: error: %s\n", st.error);
    fprintf(stderr, "wscat: closed: %d%s%s\n", st.close_code, st.reason[0] ? " " : "",
            st.reason);
    status = st.close_code == WS_OK ? 0 : 3;
  }
  close(wake[0]);
  close(wake[1]);
  return status;
}
