/*
 * test_frame: the sans-I/O frame codec (ws_frame_encode, ws_frame_decoder_*),
 * with every error path (no sockets, no I/O thread), and the max_fragments
 * option of server and client configs (over a loopback connection).
 *
 * Prints one line per check and, last, exactly one line "N passed, M failed";
 * exits non-zero when a check failed.
 */
#include "check.h"

/* ------------------------------------------------------------ helpers */

typedef struct msg {
  int opcode;
  uint8_t *data;
  size_t len;
} msg;

typedef struct msgs {
  msg items[64];
  int n;     /* kept (at most 64) */
  int total; /* taken */
  int status; /* WS_FRAME_NONE when every piece was decoded, else the error */
} msgs;

static void msgs_clear(msgs *m) {
  for (int i = 0; i < m->n; i++) free(m->items[i].data);
  m->n = 0;
  m->total = 0;
  m->status = WS_FRAME_NONE;
}

/* Takes every complete message out of d into m; returns the last status
 * (WS_FRAME_NONE, or the error). */
static int drain(ws_frame_decoder *d, msgs *m) {
  for (;;) {
    int op = -1;
    const uint8_t *data = NULL;
    size_t len = 0;
    int rc = ws_frame_decoder_next(d, &op, &data, &len);
    if (rc != WS_STATUS_OK) {
      m->status = rc;
      return rc;
    }
    m->total++;
    if (m->n < 64) {
      msg *it = &m->items[m->n++];
      it->opcode = op;
      it->len = len;
      it->data = malloc(len + 1);
      if (len) memcpy(it->data, data, len);
      it->data[len] = 0;
    }
  }
}

/* Appends wire in pieces of `chunk` bytes, draining after each. Returns the
 * final status: WS_FRAME_NONE, or the first error (of append or next). */
static int feed(ws_frame_decoder *d, const uint8_t *wire, size_t len, size_t chunk, msgs *m) {
  m->status = WS_FRAME_NONE;
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    int rc = ws_frame_decoder_append(d, wire + off, n);
    if (rc != WS_STATUS_OK) {
      m->status = rc;
      return rc;
    }
    if (drain(d, m) != WS_FRAME_NONE) return m->status;
  }
  return m->status;
}

/* A growing byte buffer of encoded frames. */
typedef struct wire {
  uint8_t *buf;
  size_t len, cap;
} wire;

/* Encodes a frame and appends it to w; returns the status of ws_frame_encode. */
static int put(wire *w, int opcode, int fin, int masked, const void *payload, size_t len) {
  size_t need = ws_frame_encoded_size(len, masked);
  if (w->len + need > w->cap) {
    size_t cap = (w->len + need) * 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) return WS_ERR_INTERNAL;
    w->buf = b;
    w->cap = cap;
  }
  size_t written = 0;
  int rc = ws_frame_encode(opcode, fin, masked, payload, len, w->buf + w->len, w->cap - w->len, &written);
  if (rc == WS_STATUS_OK) w->len += written;
  return rc;
}

static void wire_free(wire *w) {
  free(w->buf);
  memset(w, 0, sizeof *w);
}

static int msg_is(const msgs *m, int i, int opcode, const void *data, size_t len) {
  return i < m->n && m->items[i].opcode == opcode && m->items[i].len == len &&
         (len == 0 || memcmp(m->items[i].data, data, len) == 0);
}

static int contains(const char *haystack, const char *needle) {
  return haystack && strstr(haystack, needle) != NULL;
}

/* ------------------------------------------------------------ tests */

static void test_encoded_size(void) {
  CHECK(ws_frame_encoded_size(0, 0) == 2, "0 bytes unmasked: 2");
  CHECK(ws_frame_encoded_size(0, 1) == 6, "0 bytes masked: 6");
  CHECK(ws_frame_encoded_size(125, 0) == 127, "125 bytes: 7-bit length");
  CHECK(ws_frame_encoded_size(126, 0) == 130, "126 bytes: 16-bit length");
  CHECK(ws_frame_encoded_size(65535, 1) == 65535 + 8, "65535 masked: 16-bit length + key");
  CHECK(ws_frame_encoded_size(65536, 0) == 65536 + 10, "65536: 64-bit length");
  CHECK(ws_frame_encoded_size(65536, 7) == 65536 + 14, "any non-zero masked is masked");
  CHECK(ws_frame_encoded_size(SIZE_MAX, 1) == SIZE_MAX, "overflow saturates at SIZE_MAX");
}

static void test_encode_bytes(void) {
  /* RFC 6455 5.7: unmasked "Hello". */
  uint8_t out[64];
  size_t n = 0;
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_TEXT, 1, 0, (const uint8_t *)"Hello", 5, out, sizeof out, &n), 0,
               "encode unmasked Hello");
  static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  CHECK(n == 7 && memcmp(out, hello, 7) == 0, "unmasked Hello is the RFC's bytes");

  /* Masked: header bits and an unmasked payload equal to the input. */
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 0, 1, (const uint8_t *)"abcdef", 6, out, sizeof out, &n), 0,
               "encode masked binary, fin 0");
  CHECK(n == 12 && out[0] == 0x02 && out[1] == (0x80 | 6), "masked header: no FIN, opcode 2, mask bit, len 6");
  uint8_t plain[6];
  for (int i = 0; i < 6; i++) plain[i] = out[6 + i] ^ out[2 + i % 4];
  CHECK(memcmp(plain, "abcdef", 6) == 0, "payload unmasks with the key in the header");

  /* Two masked encodings use different keys (random). */
  uint8_t out2[64];
  size_t n2 = 0;
  int differ = 0;
  for (int i = 0; i < 8 && !differ; i++) {
    ws_frame_encode(WS_OPCODE_BINARY, 1, 1, (const uint8_t *)"abcdef", 6, out2, sizeof out2, &n2);
    differ = memcmp(out + 2, out2 + 2, 4) != 0;
  }
  CHECK(differ, "masking keys are random");

  /* Empty payload with a NULL pointer, every control opcode, exact capacity. */
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_PING, 1, 0, NULL, 0, out, 2, &n), 0, "empty ping, NULL payload, capacity 2");
  CHECK(n == 2 && out[0] == 0x89 && out[1] == 0, "ping header 0x89 0x00");
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_PONG, 1, 0, NULL, 0, out, 2, &n), 0, "empty pong");
  CHECK(out[0] == 0x8a, "pong 0x8a");
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_CLOSE, 1, 0, (const uint8_t *)"\x03\xe8", 2, out, 4, &n), 0, "close 1000");
  CHECK(n == 4 && out[0] == 0x88, "close 0x88");
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_CONTINUATION, 1, 0, (const uint8_t *)"x", 1, out, 3, &n), 0,
               "continuation");
  CHECK(out[0] == 0x80, "continuation with FIN: 0x80");
  uint8_t big[125];
  memset(big, 'p', sizeof big);
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_PING, 1, 1, big, 125, out2, sizeof out2, &n), WS_ERR_INVALID_ARGUMENT,
               "125-byte ping into 64 bytes: too small");
  uint8_t room[200];
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_PING, 1, 1, big, 125, room, sizeof room, &n), 0, "125-byte ping");
  CHECK(n == 131, "125-byte masked ping is 131 bytes");
}

static void test_encode_errors(void) {
  uint8_t out[300];
  uint8_t payload[200];
  memset(payload, 'z', sizeof payload);
  size_t n = 12345;
  EXPECT_STATUS(ws_frame_encode(3, 1, 0, payload, 1, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT, "reserved opcode 3");
  EXPECT_STATUS(ws_frame_encode(11, 1, 0, payload, 1, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT, "reserved opcode 11");
  EXPECT_STATUS(ws_frame_encode(-1, 1, 0, payload, 1, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT, "opcode -1");
  EXPECT_STATUS(ws_frame_encode(257, 1, 0, payload, 1, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT, "opcode 257");
  CHECK(contains(ws_last_error_message(), "opcode 257"), "the message names the opcode: %s", last_msg());
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_PING, 1, 0, payload, 126, out, sizeof out, &n), WS_ERR_TOO_LARGE,
                "126-byte ping");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_CLOSE, 1, 0, payload, 126, out, sizeof out, &n), WS_ERR_TOO_LARGE,
                "126-byte close");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_PONG, 0, 0, payload, 1, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT,
                "pong without FIN");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_PING, 0, 0, NULL, 0, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT,
                "ping without FIN");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, payload, 200, out, 203, &n), WS_ERR_INVALID_ARGUMENT,
                "capacity one byte short");
  CHECK(contains(ws_last_error_message(), "needs 204"), "the message says how much is needed: %s", last_msg());
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, payload, 1, out, 0, &n), WS_ERR_INVALID_ARGUMENT,
                "capacity 0");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, NULL, 1, out, sizeof out, &n), WS_ERR_NULL,
                "NULL payload with len 1");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, payload, 1, NULL, 100, &n), WS_ERR_NULL, "NULL out");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, payload, 1, out, sizeof out, NULL), WS_ERR_NULL,
                "NULL written");
  EXPECT_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, payload, (size_t)-1, out, sizeof out, &n),
                WS_ERR_INVALID_ARGUMENT, "length SIZE_MAX");
  CHECK(n == 12345, "written untouched by failed calls");
}

static void test_round_trips(void) {
  static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, 1000000};
  size_t max = 1000000;
  uint8_t *payload = malloc(max);
  for (size_t i = 0; i < max; i++) payload[i] = (uint8_t)(i * 31 + 7);
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (int masked = 0; masked <= 1; masked++) {
      for (int op = 1; op <= 2; op++) {
        size_t len = sizes[s];
        const uint8_t *data = payload;
        uint8_t *text = NULL;
        if (op == WS_OPCODE_TEXT) { /* ASCII text of that length */
          text = malloc(len + 1);
          for (size_t i = 0; i < len; i++) text[i] = (uint8_t)('a' + i % 26);
          data = text;
        }
        wire w = {0};
        put(&w, op, 1, masked, data, len);
        ws_frame_decoder *d = ws_frame_decoder_new();
        CHECK_STATUS(ws_frame_decoder_set_max_payload_size(d, 2000000), 0, "set_max_payload_size 2000000");
        msgs m = {0};
        /* Pieces smaller than the decoder's minimum buffer. */
        feed(d, w.buf, w.len, 60000, &m);
        CHECK(m.status == WS_FRAME_NONE && msg_is(&m, 0, op, data, len) && m.n == 1,
              "round trip opcode %d, %zu bytes, %s (status %d, %d messages)", op, len,
              masked ? "masked" : "unmasked", m.status, m.n);
        msgs_clear(&m);
        ws_frame_decoder_free(d);
        wire_free(&w);
        free(text);
      }
    }
  }
  free(payload);
}

static void test_control_round_trips(void) {
  wire w = {0};
  uint8_t p125[125];
  for (int i = 0; i < 125; i++) p125[i] = (uint8_t)(255 - i);
  put(&w, WS_OPCODE_PING, 1, 1, p125, 125);
  put(&w, WS_OPCODE_PONG, 1, 0, "pong", 4);
  put(&w, WS_OPCODE_PING, 1, 0, NULL, 0);
  put(&w, WS_OPCODE_CLOSE, 1, 1, "\x0f\xa0" "bye \xe2\x98\x83", 9); /* 4000, "bye ☃" */
  put(&w, WS_OPCODE_CLOSE, 1, 0, NULL, 0);
  ws_frame_decoder *d = ws_frame_decoder_new();
  msgs m = {0};
  feed(d, w.buf, w.len, w.len, &m);
  CHECK(m.status == WS_FRAME_NONE && m.n == 5, "5 control frames (status %d, %d)", m.status, m.n);
  CHECK(msg_is(&m, 0, WS_OPCODE_PING, p125, 125), "125-byte masked ping");
  CHECK(msg_is(&m, 1, WS_OPCODE_PONG, "pong", 4), "pong");
  CHECK(msg_is(&m, 2, WS_OPCODE_PING, "", 0), "empty ping");
  CHECK(msg_is(&m, 3, WS_OPCODE_CLOSE, "\x0f\xa0" "bye \xe2\x98\x83", 9), "close 4000 with a reason");
  CHECK(msg_is(&m, 4, WS_OPCODE_CLOSE, "", 0), "close without a code");
  CHECK(ws_frame_decoder_close_code(d) == 0, "close_code 0 while the stream is fine");
  msgs_clear(&m);
  ws_frame_decoder_free(d);
  wire_free(&w);
}

/* A fragmented text message with control frames between its fragments, then
 * a binary one, decoded from every piece size up to the whole. */
static void test_fragments_and_interleaving(void) {
  wire w = {0};
  const char *snow = "sn\xe2\x98\x83w"; /* "sn☃w", the snowman split across fragments */
  put(&w, WS_OPCODE_TEXT, 0, 1, snow, 3);
  put(&w, WS_OPCODE_PING, 1, 1, "p1", 2);
  put(&w, WS_OPCODE_CONTINUATION, 0, 0, snow + 3, 1);
  put(&w, WS_OPCODE_PONG, 1, 0, "p2", 2);
  put(&w, WS_OPCODE_CONTINUATION, 1, 1, snow + 4, 2);
  put(&w, WS_OPCODE_BINARY, 0, 0, "\x00\xff", 2);
  put(&w, WS_OPCODE_CONTINUATION, 0, 1, NULL, 0);
  put(&w, WS_OPCODE_CONTINUATION, 1, 0, "\x01", 1);
  int all_ok = 1;
  for (size_t chunk = 1; chunk <= w.len; chunk++) {
    ws_frame_decoder *d = ws_frame_decoder_new();
    msgs m = {0};
    feed(d, w.buf, w.len, chunk, &m);
    int ok = m.status == WS_FRAME_NONE && m.n == 4 && msg_is(&m, 0, WS_OPCODE_PING, "p1", 2) &&
             msg_is(&m, 1, WS_OPCODE_PONG, "p2", 2) && msg_is(&m, 2, WS_OPCODE_TEXT, snow, 6) &&
             msg_is(&m, 3, WS_OPCODE_BINARY, "\x00\xff\x01", 3);
    if (!ok) {
      CHECK(ok, "fragments fed in %zu-byte pieces (status %d, %d messages)", chunk, m.status, m.n);
      all_ok = 0;
    }
    msgs_clear(&m);
    ws_frame_decoder_free(d);
  }
  CHECK(all_ok, "fragmented messages with interleaved control frames, every piece size from 1 to %zu", w.len);

  /* Byte at a time, without draining in between except at the end. */
  ws_frame_decoder *d = ws_frame_decoder_new();
  int appended = 1;
  for (size_t i = 0; i < w.len; i++) appended &= ws_frame_decoder_append(d, w.buf + i, 1) == WS_STATUS_OK;
  CHECK(appended, "%zu one-byte appends without next", w.len);
  msgs m = {0};
  drain(d, &m);
  CHECK(m.status == WS_FRAME_NONE && m.n == 4 && msg_is(&m, 2, WS_OPCODE_TEXT, snow, 6), "then next gives all 4");
  int op = -7;
  const uint8_t *data = (const uint8_t *)"untouched";
  size_t len = 99;
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), WS_FRAME_NONE, "next when empty -> WS_FRAME_NONE");
  CHECK(op == -7 && len == 99 && memcmp(data, "untouched", 9) == 0, "out-parameters untouched on WS_FRAME_NONE");
  msgs_clear(&m);
  ws_frame_decoder_free(d);
  wire_free(&w);

  /* A 100-fragment message of large pieces, then the limit of 128 by default. */
  wire big = {0};
  uint8_t piece[600];
  for (int i = 0; i < 100; i++) {
    memset(piece, 'a' + i % 26, sizeof piece);
    put(&big, i ? WS_OPCODE_CONTINUATION : WS_OPCODE_BINARY, i == 99, i % 2, piece, sizeof piece);
  }
  d = ws_frame_decoder_new();
  feed(d, big.buf, big.len, 777, &m);
  CHECK(m.status == WS_FRAME_NONE && m.n == 1 && m.items[0].len == 60000 && m.items[0].data[59999] == 'a' + 99 % 26,
        "100 fragments of 600 bytes join into 60000 (status %d)", m.status);
  msgs_clear(&m);
  ws_frame_decoder_free(d);
  wire_free(&big);
}

/* Feeds w to a new decoder (after `setup`) and expects `status` with close code `code`. */
static void expect_failure(const wire *w, size_t chunk, int code, const char *needle, const char *what,
                           uint64_t max_payload, uint64_t max_fragments) {
  ws_frame_decoder *d = ws_frame_decoder_new();
  if (max_payload) ws_frame_decoder_set_max_payload_size(d, max_payload);
  if (max_fragments != (uint64_t)-1) ws_frame_decoder_set_max_fragments(d, max_fragments);
  msgs m = {0};
  poison_last_error(WS_ERR_PROTOCOL);
  feed(d, w->buf, w->len, chunk, &m);
  CHECK(m.status == WS_ERR_PROTOCOL && ws_last_error_code() == WS_ERR_PROTOCOL, "%s -> WS_ERR_PROTOCOL (got %d: %s)",
        what, m.status, last_msg());
  CHECK(ws_frame_decoder_close_code(d) == code, "%s: close code %d (got %d)", what, code,
        ws_frame_decoder_close_code(d));
  CHECK(contains(ws_last_error_message(), needle), "%s: message \"%s\" says \"%s\"", what, last_msg(), needle);
  /* Sticky: next and append fail again. */
  int op;
  const uint8_t *data;
  size_t len;
  EXPECT_STATUS(ws_frame_decoder_next(d, &op, &data, &len), WS_ERR_PROTOCOL, "next after the failure");
  EXPECT_STATUS(ws_frame_decoder_append(d, (const uint8_t *)"\x81\x00", 2), WS_ERR_PROTOCOL,
                "append after the failure");
  CHECK(contains(ws_last_error_message(), "failed earlier"), "append says the stream failed earlier: %s", last_msg());
  msgs_clear(&m);
  ws_frame_decoder_free(d);
}

static void test_protocol_errors(void) {
  wire w = {0};
  uint8_t payload[300];
  memset(payload, 'q', sizeof payload);

  /* Too many fragments (default 128). */
  for (int i = 0; i < 129; i++) put(&w, i ? WS_OPCODE_CONTINUATION : WS_OPCODE_TEXT, i == 128, 1, "f", 1);
  expect_failure(&w, w.len, 1009, "more than 128 fragments", "129 fragments (default limit 128)", 0, (uint64_t)-1);
  expect_failure(&w, 1, 1009, "more than 128 fragments", "129 fragments byte by byte", 0, (uint64_t)-1);
  {
    ws_frame_decoder *d = ws_frame_decoder_new();
    CHECK_STATUS(ws_frame_decoder_set_max_fragments(d, 0), 0, "set_max_fragments 0 (no limit)");
    msgs m = {0};
    feed(d, w.buf, w.len, 100, &m);
    CHECK(m.status == WS_FRAME_NONE && m.n == 1 && m.items[0].len == 129, "129 fragments pass without a limit");
    msgs_clear(&m);
    ws_frame_decoder_free(d);
  }
  wire_free(&w);
  for (int i = 0; i < 4; i++) put(&w, i ? WS_OPCODE_CONTINUATION : WS_OPCODE_BINARY, i == 3, 0, "f", 1);
  expect_failure(&w, 3, 1009, "more than 3 fragments", "4 fragments, limit 3", 0, 3);
  {
    ws_frame_decoder *d = ws_frame_decoder_new();
    CHECK_STATUS(ws_frame_decoder_set_max_fragments(d, 4), 0, "set_max_fragments 4");
    msgs m = {0};
    feed(d, w.buf, w.len, 3, &m);
    CHECK(m.status == WS_FRAME_NONE && msg_is(&m, 0, WS_OPCODE_BINARY, "ffff", 4), "4 fragments, limit 4: fine");
    msgs_clear(&m);
    ws_frame_decoder_free(d);
  }
  wire_free(&w);

  /* Too large: one frame, and a message over the limit across fragments. */
  put(&w, WS_OPCODE_BINARY, 1, 1, payload, 101);
  expect_failure(&w, 4096, 1009, "over 100 bytes", "101 bytes, max_payload_size 100", 100, (uint64_t)-1);
  wire_free(&w);
  put(&w, WS_OPCODE_TEXT, 0, 1, payload, 60);
  put(&w, WS_OPCODE_CONTINUATION, 1, 1, payload, 41);
  expect_failure(&w, 7, 1009, "too large", "60 + 41 bytes, max_payload_size 100", 100, (uint64_t)-1);
  wire_free(&w);
  /* The default limit, 65536: a header announcing 65537 fails at once. */
  {
    static const uint8_t head[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 1};
    wire h = {0};
    h.buf = malloc(sizeof head);
    memcpy(h.buf, head, sizeof head);
    h.len = h.cap = sizeof head;
    expect_failure(&h, sizeof head, 1009, "over 65536 bytes", "a header announcing 65537 bytes (default limit)", 0,
                   (uint64_t)-1);
    wire_free(&h);
  }

  /* Invalid UTF-8: in one frame, across fragments, and truncated at the end. */
  put(&w, WS_OPCODE_TEXT, 1, 0, "ok \xff", 4);
  expect_failure(&w, 1, 1007, "UTF-8", "invalid UTF-8 text", 0, (uint64_t)-1);
  wire_free(&w);
  put(&w, WS_OPCODE_TEXT, 0, 1, "\xe2\x98", 2);
  put(&w, WS_OPCODE_CONTINUATION, 1, 1, "x", 1);
  expect_failure(&w, 100, 1007, "UTF-8", "a sequence broken across fragments", 0, (uint64_t)-1);
  wire_free(&w);
  put(&w, WS_OPCODE_TEXT, 1, 0, "\xe2\x98", 2);
  expect_failure(&w, 100, 1007, "UTF-8", "text ending inside a sequence", 0, (uint64_t)-1);
  wire_free(&w);
  put(&w, WS_OPCODE_CLOSE, 1, 0, "\x03\xe8\xff", 3);
  expect_failure(&w, 100, 1007, "UTF-8", "close reason not UTF-8", 0, (uint64_t)-1);
  wire_free(&w);

  /* Bad continuation and sequencing. */
  put(&w, WS_OPCODE_CONTINUATION, 1, 0, "x", 1);
  expect_failure(&w, 100, 1002, "continuation", "continuation without a message", 0, (uint64_t)-1);
  wire_free(&w);
  put(&w, WS_OPCODE_TEXT, 0, 0, "a", 1);
  put(&w, WS_OPCODE_BINARY, 1, 0, "b", 1);
  expect_failure(&w, 100, 1002, "before the last one", "a new message inside a fragmented one", 0, (uint64_t)-1);
  wire_free(&w);

  /* Hand-made frames: reserved opcode, RSV bits, fragmented/oversized control, bad close. */
  struct {
    uint8_t bytes[16];
    size_t len;
    int code;
    const char *needle, *what;
  } raw[] = {
      {{0x83, 0x00}, 2, 1002, "reserved opcode", "reserved opcode 3"},
      {{0x8b, 0x00}, 2, 1002, "reserved opcode", "reserved opcode 11"},
      {{0xc1, 0x00}, 2, 1002, "RSV", "RSV1 without an extension"},
      {{0x91, 0x00}, 2, 1002, "RSV", "RSV3"},
      {{0x09, 0x00}, 2, 1002, "fragmented control", "ping without FIN"},
      {{0x89, 0x7e, 0x00, 0x7e}, 4, 1002, "125", "ping of 126 bytes"},
      {{0x88, 0x01, 0x03}, 3, 1002, "close", "1-byte close payload"},
      {{0x88, 0x02, 0x03, 0xed}, 4, 1002, "close", "close code 1005 on the wire"},
      {{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, 1002, "top bit", "64-bit length with the top bit"},
  };
  for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
    wire h = {0};
    h.buf = malloc(raw[i].len);
    memcpy(h.buf, raw[i].bytes, raw[i].len);
    h.len = h.cap = raw[i].len;
    expect_failure(&h, 1, raw[i].code, raw[i].needle, raw[i].what, 0, (uint64_t)-1);
    wire_free(&h);
  }
}

static void test_decoder_arguments(void) {
  int op;
  const uint8_t *data;
  size_t len;
  EXPECT_STATUS(ws_frame_decoder_append(NULL, (const uint8_t *)"x", 1), WS_ERR_NULL, "append to NULL decoder");
  EXPECT_STATUS(ws_frame_decoder_next(NULL, &op, &data, &len), WS_ERR_NULL, "next on NULL decoder");
  EXPECT_STATUS(ws_frame_decoder_set_max_payload_size(NULL, 10), WS_ERR_NULL, "set_max_payload_size on NULL");
  EXPECT_STATUS(ws_frame_decoder_set_max_fragments(NULL, 10), WS_ERR_NULL, "set_max_fragments on NULL");
  EXPECT_STATUS(ws_frame_decoder_close_code(NULL), WS_ERR_NULL, "close_code(NULL)");
  ws_frame_decoder_free(NULL);
  CHECK(1, "free(NULL) is a no-op");

  ws_frame_decoder *d = ws_frame_decoder_new();
  CHECK(d != NULL, "ws_frame_decoder_new");
  EXPECT_STATUS(ws_frame_decoder_append(d, NULL, 1), WS_ERR_NULL, "append NULL data with len 1");
  CHECK_STATUS(ws_frame_decoder_append(d, NULL, 0), 0, "append NULL data with len 0");
  EXPECT_STATUS(ws_frame_decoder_next(d, NULL, &data, &len), WS_ERR_NULL, "next with NULL opcode");
  EXPECT_STATUS(ws_frame_decoder_next(d, &op, NULL, &len), WS_ERR_NULL, "next with NULL data");
  EXPECT_STATUS(ws_frame_decoder_next(d, &op, &data, NULL), WS_ERR_NULL, "next with NULL len");
  EXPECT_STATUS(ws_frame_decoder_set_max_payload_size(d, 0), WS_ERR_INVALID_ARGUMENT, "max_payload_size 0");
  EXPECT_STATUS(ws_frame_decoder_set_max_payload_size(d, UINT64_MAX), WS_ERR_INVALID_ARGUMENT,
                "max_payload_size UINT64_MAX");
  CHECK_STATUS(ws_frame_decoder_set_max_fragments(d, UINT64_MAX), 0, "max_fragments UINT64_MAX");
  CHECK(ws_frame_decoder_close_code(d) == 0, "argument errors do not fail the stream");
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), WS_FRAME_NONE, "new decoder: WS_FRAME_NONE");
  ws_frame_decoder_free(d);
}

/* The decoder never holds more than max(max_payload_size, 65536) + 14 undecoded bytes. */
static void test_buffer_bound(void) {
  ws_frame_decoder *d = ws_frame_decoder_new();
  size_t limit = 65536 + 14;
  uint8_t *junk = calloc(1, limit + 1);
  EXPECT_STATUS(ws_frame_decoder_append(d, junk, limit + 1), WS_ERR_TOO_LARGE, "append over the bound at once");
  CHECK(contains(ws_last_error_message(), "65550"), "the message names the bound: %s", last_msg());

  /* Pings fill it when nobody calls next; then QUEUE_FULL; next makes room. */
  static const uint8_t ping[] = {0x89, 0x00};
  size_t held = 0;
  while (ws_frame_decoder_append(d, ping, 2) == WS_STATUS_OK) held += 2;
  CHECK(held == limit, "appends without next stop at the bound (%zu bytes held)", held);
  EXPECT_STATUS(ws_frame_decoder_append(d, ping, 2), WS_ERR_QUEUE_FULL, "append to a full decoder");
  CHECK(contains(ws_last_error_message(), "ws_frame_decoder_next"), "the message says to call next: %s", last_msg());
  msgs m = {0};
  drain(d, &m);
  CHECK(m.status == WS_FRAME_NONE && m.total == (int)(limit / 2) && msg_is(&m, 63, WS_OPCODE_PING, "", 0),
        "next drains them (%d pings)", m.total);
  msgs_clear(&m);
  CHECK_STATUS(ws_frame_decoder_append(d, junk, 65536), 0, "after draining, 64 KiB fits again");
  ws_frame_decoder_free(d);

  /* A frame larger than the buffer passes in pieces: the payload goes to the message. */
  d = ws_frame_decoder_new();
  CHECK_STATUS(ws_frame_decoder_set_max_payload_size(d, 1 << 20), 0, "max_payload_size 1 MiB");
  wire w = {0};
  uint8_t *big = malloc(1 << 20);
  for (size_t i = 0; i < (1 << 20); i++) big[i] = (uint8_t)i;
  put(&w, WS_OPCODE_BINARY, 1, 1, big, 1 << 20);
  /* The bound is max_payload_size + 14: one whole masked frame of the largest size. */
  feed(d, w.buf, w.len, w.len, &m);
  CHECK(m.status == WS_FRAME_NONE && msg_is(&m, 0, WS_OPCODE_BINARY, big, 1 << 20),
        "a 1 MiB masked frame appended at once decodes (status %d)", m.status);
  msgs_clear(&m);
  feed(d, w.buf, w.len, 100000, &m);
  CHECK(m.status == WS_FRAME_NONE && msg_is(&m, 0, WS_OPCODE_BINARY, big, 1 << 20),
        "and in 100000-byte pieces (status %d)", m.status);
  msgs_clear(&m);
  uint8_t one = 0x82;
  CHECK_STATUS(ws_frame_decoder_append(d, &one, 1), 0, "one byte of a header");
  EXPECT_STATUS(ws_frame_decoder_append(d, w.buf, w.len), WS_ERR_QUEUE_FULL, "then a whole frame: one byte over");
  msgs_clear(&m);
  ws_frame_decoder_free(d);
  wire_free(&w);
  free(big);
  free(junk);
}

/* The decoder accepts masked and unmasked frames in one stream, and a frame
 * built by hand (the RFC's examples). */
static void test_rfc_examples(void) {
  static const uint8_t rfc[] = {
      0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,                         /* unmasked "Hello" */
      0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, /* masked "Hello" */
      0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f,             /* "Hel" + "lo" */
      0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,                         /* ping "Hello" */
      0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, /* masked pong */
  };
  ws_frame_decoder *d = ws_frame_decoder_new();
  msgs m = {0};
  feed(d, rfc, sizeof rfc, 1, &m);
  CHECK(m.status == WS_FRAME_NONE && m.n == 5, "RFC 6455 5.7 examples byte by byte: 5 messages");
  CHECK(msg_is(&m, 0, WS_OPCODE_TEXT, "Hello", 5) && msg_is(&m, 1, WS_OPCODE_TEXT, "Hello", 5) &&
            msg_is(&m, 2, WS_OPCODE_TEXT, "Hello", 5) && msg_is(&m, 3, WS_OPCODE_PING, "Hello", 5) &&
            msg_is(&m, 4, WS_OPCODE_PONG, "Hello", 5),
        "each is Hello");
  msgs_clear(&m);
  ws_frame_decoder_free(d);
}

/* ws_*_config_set_max_fragments, and the limit on a real server connection. */
static void test_config_max_fragments(void) {
  EXPECT_STATUS(ws_server_config_set_max_fragments(NULL, 2), WS_ERR_NULL, "server max_fragments on NULL config");
  EXPECT_STATUS(ws_client_config_set_max_fragments(NULL, 2), WS_ERR_NULL, "client max_fragments on NULL config");
  ws_client_config *cc = ws_client_config_new();
  CHECK_STATUS(ws_client_config_set_max_fragments(cc, 0), 0, "client max_fragments 0 (no limit)");
  CHECK_STATUS(ws_client_config_set_max_fragments(cc, UINT64_MAX), 0, "client max_fragments UINT64_MAX");
  ws_client_config_free(cc);

  ws_server_config *sc = ws_server_config_new();
  CHECK_STATUS(ws_server_config_set_max_fragments(sc, 2), 0, "server max_fragments 2");
  rec r;
  rec_init(&r, "server");
  ws_callbacks cb = rec_callbacks();
  ws_server *s = ws_server_listen("127.0.0.1", 0, sc, &cb, &r);
  ws_server_config_free(sc);
  CHECK(s != NULL, "server listens (%s)", s ? "" : last_msg());
  if (!s) {
    rec_destroy(&r);
    return;
  }
  int fd = raw_connect(ws_server_port(s), 0);
  char resp[2048];
  CHECK(fd >= 0 && raw_ws_handshake(fd, "/", resp, sizeof resp) == 0, "raw client handshake");
  unsigned char buf[64];
  size_t n = raw_client_frame(buf, 0x01, "a", 1);
  n += raw_client_frame(buf + n, 0x80, "b", 1);
  raw_send_all(fd, buf, n);
  CHECK(rec_wait(&r, &r.n_msg, 1, WAIT_MS) && r.msg_len == 2 && memcmp(r.msg, "ab", 2) == 0,
        "a message of 2 fragments passes the limit of 2");
  n = raw_client_frame(buf, 0x01, "a", 1);
  n += raw_client_frame(buf + n, 0x00, "b", 1);
  n += raw_client_frame(buf + n, 0x80, "c", 1);
  raw_send_all(fd, buf, n);
  unsigned char payload[128];
  size_t len = 0;
  int b0 = raw_read_frame(fd, payload, sizeof payload, &len);
  CHECK(b0 == 0x88 && len >= 2 && payload[0] == 0x03 && payload[1] == 0xf1,
        "3 fragments: the server closes with 1009 (first byte 0x%x, %zu bytes)", b0, len);
  if (fd >= 0) close(fd); /* without answering: the server need not wait for our close frame */
  CHECK(rec_wait(&r, &r.n_close, 1, WAIT_MS), "on_close runs (code %d: the peer sent no close frame)", r.close_code);
  CHECK(rec_get(&r, &r.n_error) == 1 && r.err_status == WS_ERR_PROTOCOL && strstr(r.err_msg, "fragments"),
        "on_error with WS_ERR_PROTOCOL about the fragments (%d \"%s\")", r.err_status, r.err_msg);
  CHECK(rec_get(&r, &r.n_msg) == 1, "the 3-fragment message was not delivered");
  ws_server_free(s);
  rec_destroy(&r);
}

/* RSV bits: encoded where the header keeps them, refused by a decoder unless
 * allowed, then delivered as they came and reported by ws_frame_decoder_rsv. */
static void test_rsv_bits(void) {
  uint8_t out[32];
  size_t n = 0;
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_TEXT, 1, WS_FRAME_RSV1, 0, (const uint8_t *)"\xff", 1, out, sizeof out, &n),
               0, "encode with RSV1");
  CHECK(n == 3 && out[0] == (0x80 | 0x40 | 0x01), "RSV1 is bit 0x40 of the first byte (0x%x)", out[0]);
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_BINARY, 0, WS_FRAME_RSV2 | WS_FRAME_RSV3, 1, (const uint8_t *)"ab", 2, out,
                                   sizeof out, &n),
               0, "encode with RSV2 and RSV3, masked");
  CHECK(n == 8 && out[0] == (0x20 | 0x10 | 0x02), "RSV2 | RSV3 are bits 0x30 (0x%x)", out[0]);
  n = 99;
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_TEXT, 1, 8, 0, NULL, 0, out, sizeof out, &n), WS_ERR_INVALID_ARGUMENT,
               "rsv 8 is refused");
  CHECK(n == 99 && contains(ws_last_error_message(), "RSV"), "nothing written; the message says why: %s", last_msg());
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_TEXT, 1, 0, (const uint8_t *)"x", 1, out, sizeof out, &n), 0, "plain encode");
  CHECK((out[0] & 0x70) == 0, "ws_frame_encode sets no RSV bit");

  /* A text frame with RSV1 (not UTF-8: as compressed data would be), a ping
   * with RSV3, then a plain binary message. */
  uint8_t frame[16];
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_TEXT, 1, WS_FRAME_RSV1, 1, (const uint8_t *)"\xff\xfe", 2, frame,
                                   sizeof frame, &n),
               0, "text frame with RSV1");
  ws_frame_decoder *d = ws_frame_decoder_new();
  msgs m = {0};
  CHECK_STATUS(feed(d, frame, n, n, &m), WS_ERR_PROTOCOL, "RSV1 not allowed: the stream fails");
  CHECK(ws_frame_decoder_close_code(d) == 1002, "with 1002");
  ws_frame_decoder_free(d);
  msgs_clear(&m);

  d = ws_frame_decoder_new();
  CHECK(ws_frame_decoder_rsv(d) == 0, "no RSV bits before anything was returned");
  CHECK_STATUS(ws_frame_decoder_allow_rsv(d, 8), WS_ERR_INVALID_ARGUMENT, "allow_rsv(8) is refused");
  CHECK_STATUS(ws_frame_decoder_allow_rsv(NULL, 1), WS_ERR_NULL, "allow_rsv(NULL) is WS_ERR_NULL");
  CHECK(ws_frame_decoder_rsv(NULL) == 0, "rsv(NULL) is 0");
  CHECK_STATUS(ws_frame_decoder_allow_rsv(d, WS_FRAME_RSV1 | WS_FRAME_RSV3), 0, "allow RSV1 and RSV3");
  CHECK_STATUS(ws_frame_decoder_append(d, frame, n), 0, "append the RSV1 text frame");
  int op = -1;
  const uint8_t *data = NULL;
  size_t len = 0;
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), 0, "it comes out");
  CHECK(op == WS_OPCODE_TEXT && len == 2 && data[0] == 0xff, "as it came, not checked to be UTF-8");
  CHECK(ws_frame_decoder_rsv(d) == WS_FRAME_RSV1, "with RSV1 (%u)", ws_frame_decoder_rsv(d));
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_PING, 1, WS_FRAME_RSV3, 0, (const uint8_t *)"p", 1, frame, sizeof frame, &n),
               0, "ping with RSV3");
  CHECK_STATUS(ws_frame_decoder_append(d, frame, n), 0, "append it");
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), 0, "the ping comes out");
  CHECK(op == WS_OPCODE_PING && ws_frame_decoder_rsv(d) == WS_FRAME_RSV3, "a ping with RSV3");
  CHECK_STATUS(ws_frame_encode(WS_OPCODE_BINARY, 1, 0, (const uint8_t *)"b", 1, frame, sizeof frame, &n), 0, "binary");
  CHECK_STATUS(ws_frame_decoder_append(d, frame, n), 0, "append it");
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), 0, "the binary message comes out");
  CHECK(op == WS_OPCODE_BINARY && ws_frame_decoder_rsv(d) == 0, "without RSV bits");
  CHECK_STATUS(ws_frame_encode_rsv(WS_OPCODE_BINARY, 1, WS_FRAME_RSV2, 0, (const uint8_t *)"c", 1, frame, sizeof frame,
                                   &n),
               0, "binary with RSV2");
  CHECK_STATUS(ws_frame_decoder_append(d, frame, n), 0, "append it");
  CHECK_STATUS(ws_frame_decoder_next(d, &op, &data, &len), WS_ERR_PROTOCOL, "RSV2 was not allowed: the stream fails");
  CHECK(ws_frame_decoder_close_code(d) == 1002, "with 1002");
  ws_frame_decoder_free(d);
}

int main(void) {
  test_encoded_size();
  test_encode_bytes();
  test_encode_errors();
  test_round_trips();
  test_control_round_trips();
  test_fragments_and_interleaving();
  test_protocol_errors();
  test_decoder_arguments();
  test_buffer_bound();
  test_rfc_examples();
  test_config_max_fragments();
  test_rsv_bits();
  return check_summary();
}
