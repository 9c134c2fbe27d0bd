/* first_client.c: send one message to an echo server and print the answer. */
#include <stdio.h>
#include "websocket.h"

static void on_message(void *user_data, ws_conn *conn, ws_message_type type,
                       const uint8_t *data, size_t len) {
  (void)user_data; (void)type;
  printf("got: %.*s\n", (int)len, (const char *)data);   /* data is valid only here */
  ws_conn_close(conn, WS_OK, "thanks");                    /* start the close handshake */
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "ws://127.0.0.1:9001/";
  ws_callbacks callbacks = WS_CALLBACKS_INIT; /* sets its size; every callback is optional */
  callbacks.on_message = on_message;

  ws_client *client = ws_client_connect(url, NULL, &callbacks, NULL);
  if (!client) {                          /* bad URL: the reason is readable */
    fprintf(stderr, "%s\n", ws_last_error_message());
    return 1;
  }
  ws_conn *conn = ws_client_conn(client);
  if (ws_conn_wait_open(conn, 5000) != WS_STATUS_OK) {   /* refused, timed out, ... */
    fprintf(stderr, "%s\n", ws_last_error_message());
    ws_client_free(client);
    return 1;
  }
  ws_conn_send_text(conn, "hello", 5);
  ws_conn_wait_closed(conn, 5000);
  printf("closed with %d\n", ws_conn_close_code(conn));
  ws_client_free(client);
  return 0;
}
