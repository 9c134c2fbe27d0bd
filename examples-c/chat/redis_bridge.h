/*
 * redis_bridge.h: the chat server's link to the other chat server processes,
 * through Redis pub/sub (`chat_server --redis redis://HOST:PORT`).
 *
 * Each process delivers what its own clients send to its own subscribers at
 * once, and publishes it to the Redis channel "chat:ROOM" tagged with its
 * origin (a name unique to the process). Every process subscribes to
 * "chat:*" and hands what other processes published to `deliver`; messages
 * carrying its own origin come back too and are dropped, so nobody gets a
 * message twice. The bridge reconnects by itself when Redis goes away
 * (meanwhile each process still serves its own clients), saying so on stderr.
 *
 * redis_bridge.c implements it with hiredis; redis_bridge_missing.c, built
 * when hiredis is not installed, only says that --redis is not available.
 */
#ifndef CHAT_REDIS_BRIDGE_H
#define CHAT_REDIS_BRIDGE_H

#include <stddef.h>

typedef struct redis_bridge redis_bridge;

/* Called on the bridge's own thread with a message another process published
   to `room`: `json` is `len` bytes of UTF-8, valid only during the call. */
typedef void (*redis_deliver_fn)(void *ctx, const char *room, const char *json, size_t len);

/* Starts the bridge to the Redis server at `url` ("redis://HOST[:PORT]", port
   6379 by default). `origin` tags this process's messages (no spaces).
   Returns NULL after printing why on stderr (bad URL, built without hiredis);
   a Redis server that is not there yet is no error: the bridge keeps trying. */
redis_bridge *redis_bridge_start(const char *url, const char *origin, redis_deliver_fn deliver, void *ctx);

/* Queues `json` (`len` bytes) to be published to the room's channel. Never
   blocks: from any thread, callbacks included. When Redis is away the message
   reaches this process's clients only. */
void redis_bridge_publish(redis_bridge *bridge, const char *room, const char *json, size_t len);

/* Stops the bridge's threads, closes its connections and frees it. NULL is a no-op. */
void redis_bridge_stop(redis_bridge *bridge);

#endif
