/*
 * chat_server: a chat with rooms, for browsers. It serves the chat page and
 * its JavaScript (examples-c/web) and relays what each client says to every
 * client in the same room, with the library's topics: one topic per room.
 *
 *   chat_server --host H --port P [--web DIR] [--redis redis://HOST[:PORT]]
 *               [--reuse-port] [--threads N] [--verbose]
 *
 * --web DIR: the files served to requests that are not WebSocket upgrades
 * (default: examples-c/web). --redis: several chat_server processes (behind
 * a load balancer such as nginx: examples-c/deploy) share their rooms through
 * Redis pub/sub (see chat/redis_bridge.h). --reuse-port lets several
 * processes on one machine listen on the same port, which the kernel shares
 * out (SO_REUSEPORT); they too need --redis to share rooms. --threads and
 * --verbose are those of echo_server.
 *
 * The protocol, JSON text messages:
 * - a client connects to ws://H:P/chat?room=NAME (any path; NAME is 1 to 32
 *   of A-Z a-z 0-9 _ -; "lobby" when there is no room parameter) and is sent
 *     {"type":"welcome","room":NAME,"server":ID,"users":N}
 *   where ID names the chat_server process (HOSTNAME:PID) and N counts the
 *   room's clients on this process, the newcomer included;
 * - it sends {"type":"chat","name":WHO,"text":WHAT} (WHO 1 to 32 bytes without
 *   control characters, WHAT 1 to 1000 bytes; other members are ignored), and
 *   everyone in the room, the sender included, gets
 *     {"type":"chat","room":NAME,"name":WHO,"text":WHAT}
 * - anything else in a text message is answered with {"type":"error",
 *   "error":SENTENCE} and dropped; a binary message closes the connection
 *   with 1003 (WS_NOT_ACCEPTABLE), a bad room name with 1008 (WS_FORBIDDEN),
 *   a message over 4096 bytes with 1009 (the library's maximum message size).
 *
 * Prints "listening on ws://H:P/" once it accepts connections. SIGINT and
 * SIGTERM close every connection with 1001 (going away) and end it, as in
 * echo_server.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/json.h"
#include "chat/redis_bridge.h"
#include "verbose.h"
#include "websocket.h"

#define ROOM_MAX 32
#define NAME_MAX_BYTES 32
#define TEXT_MAX_BYTES 1000
#define MESSAGE_MAX 4096       /* the largest message a client may send */
#define OUT_MAX 8192           /* a chat message as sent: TEXT_MAX_BYTES escaped fits */
#define SEND_QUEUE_MAX (1 << 20) /* a client this far behind misses messages (WS_SLOW_SKIP) */
#define KEEPALIVE_MS 30000     /* pings idle clients: dead ones go, proxies see traffic */

/* What the callbacks share. The server handle is stored by main once
   ws_server_listen returns, but the server accepts connections before that:
   server_handle() waits for it (a moment, once). */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t ready;
  int started;          /* main has stored `server` */
  ws_server *server;    /* NULL again when shutting down */
  redis_bridge *redis;  /* NULL without --redis */
  char id[128];         /* this process: HOSTNAME:PID */
} chat = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, NULL, ""};

static void set_server(ws_server *server) {
  pthread_mutex_lock(&chat.lock);
  chat.started = 1;
  chat.server = server;
  pthread_cond_broadcast(&chat.ready);
  pthread_mutex_unlock(&chat.lock);
}

/* The server, for a callback: ws_server_free waits for running callbacks, so
   it stays valid until the callback returns. NULL when shutting down. */
static ws_server *server_handle(void) {
  pthread_mutex_lock(&chat.lock);
  while (!chat.started) pthread_cond_wait(&chat.ready, &chat.lock);
  ws_server *server = chat.server;
  pthread_mutex_unlock(&chat.lock);
  return server;
}

#define ROOM_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

/* Copies the room named by the query ("room=NAME", among other parameters
   joined by '&') into `room`; "lobby" when there is none. 0 when NAME is not
   1 to ROOM_MAX of ROOM_CHARS (which never need percent-encoding). */
static int room_of(const char *query, char room[ROOM_MAX + 1]) {
  strcpy(room, "lobby");
  for (const char *p = query ? query : ""; *p;) {
    size_t len = strcspn(p, "&"); /* one parameter */
    if (strncmp(p, "room=", 5) == 0) {
      size_t n = len - 5;
      if (n == 0 || n > ROOM_MAX || strspn(p + 5, ROOM_CHARS) < n) return 0;
      memcpy(room, p + 5, n);
      room[n] = '\0';
    }
    p += len + (p[len] == '&');
  }
  return 1;
}

static void send_json(ws_conn *conn, const json_writer *w) {
  if (w->overflow) return; /* cannot happen with the limits above */
  ws_conn_send_text(conn, w->buf, w->len);
}

static void on_open(void *user_data, ws_conn *conn) {
  (void)user_data;
  char room[ROOM_MAX + 1];
  if (!room_of(ws_conn_query(conn), room)) {
    ws_conn_close(conn, WS_FORBIDDEN, "room: 1 to 32 of A-Z a-z 0-9 _ -");
    return;
  }
  ws_server *server = server_handle();
  if (!server || ws_conn_subscribe(conn, room) != WS_STATUS_OK) return; /* closing already */
  char buf[256];
  json_writer w;
  json_writer_init(&w, buf, sizeof buf);
  json_write_raw(&w, "{\"type\":\"welcome\",\"room\":");
  json_write_string(&w, room, strlen(room));
  json_write_raw(&w, ",\"server\":");
  json_write_string(&w, chat.id, strlen(chat.id));
  char users[32];
  snprintf(users, sizeof users, ",\"users\":%zu}", ws_server_subscriber_count(server, room));
  json_write_raw(&w, users);
  send_json(conn, &w);
}

static void send_error(ws_conn *conn, const char *sentence) {
  char buf[512];
  json_writer w;
  json_writer_init(&w, buf, sizeof buf);
  json_write_raw(&w, "{\"type\":\"error\",\"error\":");
  json_write_string(&w, sentence, strlen(sentence));
  json_write_raw(&w, "}");
  send_json(conn, &w);
}

static int has_control_characters(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

static void on_message(void *user_data, ws_conn *conn, ws_message_type type, const uint8_t *data, size_t len) {
  (void)user_data;
  if (type != WS_MESSAGE_TEXT) {
    ws_conn_close(conn, WS_NOT_ACCEPTABLE, "chat messages are JSON text");
    return;
  }
  char room[ROOM_MAX + 1], kind[16], name[NAME_MAX_BYTES + 1], text[TEXT_MAX_BYTES + 1];
  room_of(ws_conn_query(conn), room); /* valid: on_open checked it */
  json_field fields[] = {
      {.key = "type", .out = kind, .cap = sizeof kind},
      {.key = "name", .out = name, .cap = sizeof name},
      {.key = "text", .out = text, .cap = sizeof text},
  };
  if (json_read_object((const char *)data, len, fields, 3) != 0 || !fields[0].found ||
      strcmp(kind, "chat") != 0 || !fields[1].found || fields[1].len == 0 ||
      has_control_characters(name, fields[1].len) || !fields[2].found || fields[2].len == 0) {
    send_error(conn, "not a chat message: send {\"type\":\"chat\",\"name\":WHO,\"text\":WHAT}, "
                     "WHO 1 to 32 bytes, WHAT 1 to 1000");
    return;
  }

  char out[OUT_MAX];
  json_writer w;
  json_writer_init(&w, out, sizeof out);
  json_write_raw(&w, "{\"type\":\"chat\",\"room\":");
  json_write_string(&w, room, strlen(room));
  json_write_raw(&w, ",\"name\":");
  json_write_string(&w, name, fields[1].len);
  json_write_raw(&w, ",\"text\":");
  json_write_string(&w, text, fields[2].len);
  json_write_raw(&w, "}");
  ws_server *server = server_handle();
  if (w.overflow || !server) return;
  ws_server_publish(server, room, WS_MESSAGE_TEXT, (const uint8_t *)out, w.len);
  if (chat.redis) redis_bridge_publish(chat.redis, room, out, w.len);
}

/* A message another chat_server process published through Redis: to this
   process's clients in the room. The lock keeps main from freeing the server
   meanwhile (this runs on the bridge's thread, not in a callback). */
static void deliver_from_redis(void *ctx, const char *room, const char *json, size_t len) {
  (void)ctx;
  pthread_mutex_lock(&chat.lock);
  while (!chat.started) pthread_cond_wait(&chat.ready, &chat.lock);
  if (chat.server) ws_server_publish(chat.server, room, WS_MESSAGE_TEXT, (const uint8_t *)json, len);
  pthread_mutex_unlock(&chat.lock);
}

static void usage(void) {
  fprintf(stderr,
          "usage: chat_server --host H --port P [--web DIR] [--redis redis://HOST[:PORT]] "
          "[--reuse-port] [--threads N] [--verbose]\n");
  exit(2);
}

int main(int argc, char **argv) {
  /* SIGINT and SIGTERM are blocked before any thread starts (threads inherit
     the mask) and main takes them with sigwait, as in echo_server. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  const char *host = "127.0.0.1", *web = "examples-c/web", *redis_url = NULL;
  long port = 9001;
  int reuse_port = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (strcmp(argv[i], "--web") == 0 && i + 1 < argc) {
      web = argv[++i];
    } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
      redis_url = argv[++i];
    } else if (strcmp(argv[i], "--reuse-port") == 0) {
      reuse_port = 1;
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      char *end;
      long threads = strtol(argv[++i], &end, 10);
      if (*end || threads < 0 || threads > 256) usage();
      if (ws_set_io_threads((unsigned)threads) != WS_STATUS_OK) {
        fprintf(stderr, "chat_server: %s\n", ws_last_error_message());
        return 2;
      }
    } else if (strcmp(argv[i], "--verbose") == 0) {
      verbose_logging();
    } else {
      usage();
    }
  }

  char hostname[64] = "localhost";
  gethostname(hostname, sizeof hostname - 1);
  snprintf(chat.id, sizeof chat.id, "%s:%ld", hostname, (long)getpid());
  if (redis_url && !(chat.redis = redis_bridge_start(redis_url, chat.id, deliver_from_redis, NULL))) return 2;

  ws_server_config *config = ws_server_config_new();
  ws_server_config_set_max_message_size(config, MESSAGE_MAX);
  ws_server_config_set_send_queue_limit(config, SEND_QUEUE_MAX);
  /* A client too slow to take the room's messages misses some rather than
     being closed: WS_SLOW_CLOSE closes with 1008, after which a browser
     client (websocket-client.js) would not come back. */
  ws_server_config_set_slow_subscriber(config, WS_SLOW_SKIP);
  ws_server_config_set_keepalive_ms(config, KEEPALIVE_MS);
  ws_server_config_set_reuse_port(config, reuse_port);
  ws_server *server = NULL;
  ws_callbacks callbacks = WS_CALLBACKS_INIT;
  callbacks.on_open = on_open;
  callbacks.on_message = on_message;
  if (ws_server_config_set_static_dir(config, web) == WS_STATUS_OK)
    server = ws_server_listen(host, (uint16_t)port, config, &callbacks, NULL);
  ws_server_config_free(config);
  set_server(server);
  if (!server) {
    fprintf(stderr, "chat_server: %s\n", ws_last_error_message());
    redis_bridge_stop(chat.redis);
    return 1;
  }
  const char *fmt = strchr(host, ':') ? "listening on ws://[%s]:%u/\n" : "listening on ws://%s:%u/\n";
  printf(fmt, host, ws_server_port(server));
  fflush(stdout);

  int sig;
  sigwait(&stop_signals, &sig);
  ws_server_stop(server); /* every connection closes with 1001 */
  ws_server_wait_closed(server, 3000);
  set_server(NULL);       /* the Redis thread delivers no more */
  ws_server_free(server); /* no callback runs after this */
  redis_bridge_stop(chat.redis);
  return 0;
}
