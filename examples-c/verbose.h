/*
 * verbose.h: the --verbose option of the example programs. Every log line of
 * the library, DEBUG included, goes to stderr as
 *   "websocket: LEVEL [conn ID] sentence"   ("[conn ID]" only when it has one).
 * The callback may run on several I/O threads at once: one fprintf per line.
 */
#ifndef EXAMPLES_VERBOSE_H
#define EXAMPLES_VERBOSE_H

#include <inttypes.h>
#include <stdio.h>

#include "websocket.h"

static void verbose_line(void *user_data, ws_log_level level, uint64_t conn_id, const char *message) {
  (void)user_data;
  if (conn_id)
    fprintf(stderr, "websocket: %s [conn %" PRIu64 "] %s\n", ws_log_level_name(level), conn_id, message);
  else
    fprintf(stderr, "websocket: %s %s\n", ws_log_level_name(level), message);
}

/* Sends the library's log to stderr. */
static void verbose_logging(void) { ws_set_log_callback(verbose_line, NULL, WS_LOG_DEBUG); }

#endif
