/*
 * redis_bridge_missing.c: the Redis bridge of a chat_server built without
 * hiredis (the Makefile uses it when pkg-config does not find hiredis):
 * --redis is refused with a message saying how to get it.
 */
#include <stdio.h>

#include "redis_bridge.h"

redis_bridge *redis_bridge_start(const char *url, const char *origin, redis_deliver_fn deliver, void *ctx) {
  (void)url, (void)origin, (void)deliver, (void)ctx;
  fprintf(stderr,
          "chat_server: built without Redis support: install hiredis (apt-get install "
          "libhiredis-dev) and run make again\n");
  return NULL;
}

void redis_bridge_publish(redis_bridge *bridge, const char *room, const char *json, size_t len) {
  (void)bridge, (void)room, (void)json, (void)len;
}

void redis_bridge_stop(redis_bridge *bridge) { (void)bridge; }
