/*
 * autobahn_client: the client side of the Autobahn|Testsuite (wstest -m fuzzingserver).
 *
 *   autobahn_client --url ws://127.0.0.1:P --agent NAME [--deflate] [--verbose]
 *
 * Without --url / --agent, the environment variables AUTOBAHN_URL and
 * AUTOBAHN_AGENT are used. --deflate offers permessage-deflate (RFC 7692).
 * --verbose prints the library's log lines on stderr (see verbose.h).
 *
 * 1. URL/getCaseCount sends one text message, the number N of cases.
 * 2. For each case i in 1..N: connect to URL/runCase?case=i&agent=NAME and echo
 *    every message back with its type until the server closes. Whatever goes
 *    wrong in one case (some cases expect a failed connection) the run goes on.
 * 3. URL/updateReports?agent=NAME makes the server write its reports.
 *
 * Exits 0 unless the case count could not be read. Progress goes to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verbose.h"
#include "websocket.h"

#define CASE_TIMEOUT_MS 60000                  /* some cases send 16 MiB messages */
#define MAX_MESSAGE ((uint64_t)64 * 1024 * 1024) /* case 9.* needs 16 MiB */

/* Echoes every message back with the same type; failures (the connection is
 * closing, the server broke the protocol ...) show up in the report. */
static void echo_message(void *user_data, ws_conn *conn, ws_message_type type,
                         const uint8_t *data, size_t len) {
  (void)user_data;
  ws_conn_send(conn, type, data, len);
}

/* Keeps the first text message (the case count) in user_data (char[32]). */
static void keep_text(void *user_data, ws_conn *conn, ws_message_type type,
                      const uint8_t *data, size_t len) {
  (void)conn;
  char *out = user_data;
  if (type == WS_MESSAGE_TEXT && !out[0] && len < 32) {
    memcpy(out, data, len);
    out[len] = '\0';
  }
}

/* Connects to base+path with `on_message`, waits until the connection has
 * closed and frees it. Returns the outcome of the opening handshake
 * (WS_STATUS_OK, or an error whose message is in ws_last_error_message()). */
static ws_status run(const char *base, const char *path, const ws_client_config *cfg,
               void (*on_message)(void *, ws_conn *, ws_message_type, const uint8_t *, size_t),
               void *user_data) {
  char url[1024];
  snprintf(url, sizeof url, "%s%s", base, path);
  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_message = on_message;
  ws_client *client = ws_client_connect(url, cfg, &callbacks, user_data);
  if (!client) {
    return ws_last_error_code(); /* malformed URL */
  }
  ws_conn *conn = ws_client_conn(client);
  /* A failed handshake is expected in some cases: the close below follows. */
  ws_status opened = ws_conn_wait_open(conn, CASE_TIMEOUT_MS);
  if (ws_conn_wait_closed(conn, CASE_TIMEOUT_MS) != WS_STATUS_OK) {
    fprintf(stderr, "autobahn_client: %s: not closed after %d ms\n", path, CASE_TIMEOUT_MS);
  }
  ws_client_free(client);
  return opened;
}

/* Writes `s` percent-encoded (for a query value) into out[cap]. */
static void url_encode(char *out, size_t cap, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (; *s && n + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-._~", c)) {
      out[n++] = (char)c;
    } else {
      out[n++] = '%';
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    }
  }
  out[n] = '\0';
}

static void usage(void) {
  fprintf(stderr, "usage: autobahn_client --url ws://HOST:PORT --agent NAME [--deflate] [--verbose]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *url = getenv("AUTOBAHN_URL");
  const char *agent = getenv("AUTOBAHN_AGENT");
  int deflate = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc) {
      agent = argv[++i];
    } else if (strcmp(argv[i], "--deflate") == 0) {
      deflate = 1;
    } else if (strcmp(argv[i], "--verbose") == 0) {
      verbose_logging();
    } else {
      usage();
    }
  }
  if (!url || !*url || !agent || !*agent) usage();

  /* The base URL without a trailing '/', and the agent ready for a query. */
  char base[512], agent_q[256], path[512];
  snprintf(base, sizeof base, "%s", url);
  size_t blen = strlen(base);
  if (blen > 0 && base[blen - 1] == '/') base[blen - 1] = '\0';
  url_encode(agent_q, sizeof agent_q, agent);

  ws_client_config *cfg = ws_client_config_new();
  if (!cfg || ws_client_config_set_max_message_size(cfg, MAX_MESSAGE) != WS_STATUS_OK ||
      (deflate && ws_client_config_set_deflate(cfg, 1) != WS_STATUS_OK)) {
    fprintf(stderr, "autobahn_client: config: %s\n", ws_last_error_message());
    return 1;
  }

  char count_text[32] = "";
  ws_status opened = run(base, "/getCaseCount", cfg, keep_text, count_text);
  char *end;
  long count = strtol(count_text, &end, 10);
  if (!count_text[0] || *end || count < 0) {
    fprintf(stderr, "autobahn_client: could not read the case count from %s/getCaseCount: %s\n",
            base, opened == WS_STATUS_OK ? "no number received" : ws_last_error_message());
    ws_client_config_free(cfg);
    return 1;
  }
  fprintf(stderr, "autobahn_client: %ld cases\n", count);

  for (long i = 1; i <= count; i++) {
    snprintf(path, sizeof path, "/runCase?case=%ld&agent=%s", i, agent_q);
    run(base, path, cfg, echo_message, NULL);
    if (i % 50 == 0 || i == count) fprintf(stderr, "autobahn_client: %ld/%ld cases run\n", i, count);
  }

  snprintf(path, sizeof path, "/updateReports?agent=%s", agent_q);
  run(base, path, cfg, NULL, NULL);
  ws_client_config_free(cfg);
  return 0;
}
