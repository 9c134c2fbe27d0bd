/*
 * redis_bridge.c: see redis_bridge.h. Two threads, each with its own hiredis
 * connection (a hiredis context is not thread-safe, and a subscribed
 * connection can do nothing but receive):
 *
 * - the publisher takes messages from a bounded queue (filled by
 *   redis_bridge_publish on the library's I/O threads, which must never wait
 *   for Redis) and sends "PUBLISH chat:ROOM 'ORIGIN JSON'" for each;
 * - the subscriber sends "PSUBSCRIBE chat:*" and hands each message from
 *   another origin to `deliver`.
 *
 * Either one that loses its connection says so on stderr and tries again
 * every second. redis_bridge_stop wakes both: the publisher through its
 * condition variable, the subscriber, blocked reading its socket, by shutting
 * that socket down.
 */
#include "redis_bridge.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CHANNEL_PREFIX "chat:"
#define QUEUE_LIMIT 1000    /* messages waiting for the publisher; more are dropped */
#define RETRY_MS 1000       /* between connection attempts */
#define CONNECT_TIMEOUT_S 1 /* for each attempt */
#define COMMAND_TIMEOUT_S 2 /* for a PUBLISH to be answered */

/* A message waiting to be published: the channel, then the payload. */
typedef struct outgoing {
  struct outgoing *next;
  size_t channel_len, payload_len;
  char data[];
} outgoing;

struct redis_bridge {
  char host[256];
  int port;
  char origin[128];
  redis_deliver_fn deliver;
  void *ctx;

  pthread_mutex_t lock; /* guards what follows */
  pthread_cond_t wake;  /* signalled on a new message and on stop */
  int stopping;
  outgoing *head, *tail;
  size_t queued;
  redisContext *subscribed; /* the subscriber's connection while it has one */

  pthread_t publisher, subscriber;
};

/* Parses "redis://HOST[:PORT][/]" (HOST may be "[IPv6]"). */
static int parse_url(const char *url, char *host, size_t host_cap, int *port) {
  const char *prefix = "redis://";
  if (strncmp(url, prefix, strlen(prefix)) != 0) return -1;
  const char *p = url + strlen(prefix), *end;
  if (*p == '[') {
    end = strchr(++p, ']');
    if (!end) return -1;
  } else {
    end = p + strcspn(p, ":/");
  }
  size_t n = (size_t)(end - p);
  if (n == 0 || n >= host_cap) return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  if (*end == ']') end++;
  *port = 6379;
  if (*end == ':') {
    char *rest;
    long v = strtol(end + 1, &rest, 10);
    if (rest == end + 1 || v < 1 || v > 65535) return -1;
    *port = (int)v;
    end = rest;
  }
  return (*end == '\0' || strcmp(end, "/") == 0) ? 0 : -1;
}

/* Connects; NULL after saying why on stderr, unless `quiet` (a failure that
   was already reported). */
static redisContext *connect_redis(redis_bridge *b, int quiet) {
  struct timeval timeout = {CONNECT_TIMEOUT_S, 0};
  redisContext *c = redisConnectWithTimeout(b->host, b->port, timeout);
  if (c && !c->err) {
    redisEnableKeepAlive(c); /* so that a vanished server is noticed */
    return c;
  }
  if (!quiet)
    fprintf(stderr, "chat_server: redis %s:%d: %s; trying again every second\n", b->host, b->port,
            c ? c->errstr : "out of memory");
  redisFree(c);
  return NULL;
}

/* Waits (lock held) until `ms` have passed or the bridge stops; 1 when it stops. */
static int pause_unless_stopping(redis_bridge *b, long ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  while (!b->stopping && pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0) {
  }
  return b->stopping;
}

static void *publisher_main(void *arg) {
  redis_bridge *b = arg;
  redisContext *c = NULL;
  int reported = 0; /* the current outage was reported */
  pthread_mutex_lock(&b->lock);
  for (;;) {
    while (!b->stopping && !b->head) pthread_cond_wait(&b->wake, &b->lock);
    if (b->stopping) break;
    outgoing *msg = b->head;
    b->head = msg->next;
    if (!b->head) b->tail = NULL;
    b->queued--;
    pthread_mutex_unlock(&b->lock);

    /* Two tries: a connection that went stale while idle fails the first,
       and a new one gets the message through. */
    for (int attempt = 0; attempt < 2; attempt++) {
      if (!c && (c = connect_redis(b, reported))) {
        struct timeval timeout = {COMMAND_TIMEOUT_S, 0};
        redisSetTimeout(c, timeout);
        if (reported) fprintf(stderr, "chat_server: redis %s:%d: publishing again\n", b->host, b->port);
        reported = 0;
      }
      if (!c) break;
      redisReply *reply = redisCommand(c, "PUBLISH %b %b", msg->data, msg->channel_len,
                                       msg->data + msg->channel_len, msg->payload_len);
      if (reply) {
        freeReplyObject(reply);
        break;
      }
      fprintf(stderr, "chat_server: redis %s:%d: publish failed: %s\n", b->host, b->port, c->errstr);
      redisFree(c);
      c = NULL;
      reported = 1;
    }
    free(msg); /* when Redis is away it reached this process's clients only */

    pthread_mutex_lock(&b->lock);
    if (!c) {
      reported = 1;
      if (pause_unless_stopping(b, RETRY_MS)) break;
    }
  }
  pthread_mutex_unlock(&b->lock);
  redisFree(c);
  return NULL;
}

/* One reply on the subscribed connection: ["pmessage", pattern, channel, payload]. */
static void handle_reply(redis_bridge *b, const redisReply *r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || r->element[0]->type != REDIS_REPLY_STRING ||
      strcmp(r->element[0]->str, "pmessage") != 0)
    return; /* e.g. the confirmation of PSUBSCRIBE */
  const redisReply *channel = r->element[2], *payload = r->element[3];
  size_t prefix = strlen(CHANNEL_PREFIX);
  if (channel->type != REDIS_REPLY_STRING || channel->len <= prefix || payload->type != REDIS_REPLY_STRING)
    return;
  /* The payload is "ORIGIN JSON": skip our own messages, delivered already. */
  const char *space = memchr(payload->str, ' ', payload->len);
  if (!space) return;
  size_t origin_len = (size_t)(space - payload->str);
  if (origin_len == strlen(b->origin) && memcmp(payload->str, b->origin, origin_len) == 0) return;
  b->deliver(b->ctx, channel->str + prefix, space + 1, payload->len - origin_len - 1);
}

static void *subscriber_main(void *arg) {
  redis_bridge *b = arg;
  int reported = 0;
  for (;;) {
    redisContext *c = connect_redis(b, reported);
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
      pthread_mutex_unlock(&b->lock);
      redisFree(c);
      break;
    }
    b->subscribed = c;
    pthread_mutex_unlock(&b->lock);

    redisReply *reply = c ? redisCommand(c, "PSUBSCRIBE " CHANNEL_PREFIX "*") : NULL;
    if (reply) {
      freeReplyObject(reply);
      fprintf(stderr, "chat_server: redis %s:%d: subscribed to " CHANNEL_PREFIX "*\n", b->host, b->port);
      reported = 0;
      while (redisGetReply(c, (void **)&reply) == REDIS_OK) {
        handle_reply(b, reply);
        freeReplyObject(reply);
      }
    }

    pthread_mutex_lock(&b->lock);
    b->subscribed = NULL;
    if (c && !b->stopping && !reported)
      fprintf(stderr, "chat_server: redis %s:%d: subscription lost: %s; trying again every second\n", b->host,
              b->port, c->errstr);
    reported = 1;
    int stop = pause_unless_stopping(b, RETRY_MS);
    pthread_mutex_unlock(&b->lock);
    redisFree(c);
    if (stop) break;
  }
  return NULL;
}

redis_bridge *redis_bridge_start(const char *url, const char *origin, redis_deliver_fn deliver, void *ctx) {
  redis_bridge *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  if (parse_url(url, b->host, sizeof b->host, &b->port)) {
    fprintf(stderr, "chat_server: bad Redis URL \"%s\" (want redis://HOST[:PORT])\n", url);
    free(b);
    return NULL;
  }
  snprintf(b->origin, sizeof b->origin, "%s", origin);
  b->deliver = deliver;
  b->ctx = ctx;
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->wake, NULL);
  pthread_create(&b->publisher, NULL, publisher_main, b);
  pthread_create(&b->subscriber, NULL, subscriber_main, b);
  return b;
}

void redis_bridge_publish(redis_bridge *b, const char *room, const char *json, size_t len) {
  size_t channel_len = strlen(CHANNEL_PREFIX) + strlen(room);
  size_t payload_len = strlen(b->origin) + 1 + len;
  outgoing *msg = malloc(sizeof *msg + channel_len + payload_len + 1);
  if (!msg) return;
  msg->next = NULL;
  msg->channel_len = channel_len;
  msg->payload_len = payload_len;
  /* channel "chat:ROOM", then payload "ORIGIN JSON" */
  snprintf(msg->data, channel_len + strlen(b->origin) + 2, CHANNEL_PREFIX "%s%s ", room, b->origin);
  memcpy(msg->data + channel_len + strlen(b->origin) + 1, json, len);

  pthread_mutex_lock(&b->lock);
  if (b->queued >= QUEUE_LIMIT) { /* Redis is slow or away: drop it */
    pthread_mutex_unlock(&b->lock);
    free(msg);
    return;
  }
  if (b->tail) b->tail->next = msg;
  else b->head = msg;
  b->tail = msg;
  b->queued++;
  pthread_cond_broadcast(&b->wake);
  pthread_mutex_unlock(&b->lock);
}

void redis_bridge_stop(redis_bridge *b) {
  if (!b) return;
  pthread_mutex_lock(&b->lock);
  b->stopping = 1;
  pthread_cond_broadcast(&b->wake);
  if (b->subscribed) shutdown(b->subscribed->fd, SHUT_RDWR); /* ends its blocking read */
  pthread_mutex_unlock(&b->lock);
  pthread_join(b->publisher, NULL);
  pthread_join(b->subscriber, NULL);
  while (b->head) {
    outgoing *next = b->head->next;
    free(b->head);
    b->head = next;
  }
  pthread_mutex_destroy(&b->lock);
  pthread_cond_destroy(&b->wake);
  free(b);
}
