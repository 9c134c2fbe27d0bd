/*
 * json.h: the little JSON the chat server needs. It reads the string members
 * of one JSON object (the messages clients send) and writes JSON strings (the
 * messages it sends), so that it needs no JSON library.
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <stddef.h>

/* A string member to read from an object: json_read_object looks for `key`
   and, when its value is a string, decodes it into `out` (`cap` bytes, NUL
   added), sets `len` (the decoded bytes; "\u0000" counts as one) and `found`. */
typedef struct {
  const char *key;
  char *out;
  size_t cap;
  size_t len;
  int found;
} json_field;

/* Parses `text` (`len` bytes), which must be exactly one JSON object, and
   fills the `count` fields asked for. Members not asked for, and members whose
   value is not a string, are skipped (whatever their value); a repeated key
   keeps its last value. Returns 0, or -1 when the text is not one well-formed
   object (nested at most 16 deep), or when an asked-for string does not fit
   its field. */
int json_read_object(const char *text, size_t len, json_field *fields, size_t count);

/* A JSON text being written into a fixed buffer. Once something did not fit,
   `overflow` is set and later writes do nothing. */
typedef struct {
  char *buf;
  size_t cap;
  size_t len;
  int overflow;
} json_writer;

/* Starts writing into `buf` (`cap` bytes; the text stays NUL-terminated). */
void json_writer_init(json_writer *w, char *buf, size_t cap);

/* Appends `raw` as it is (punctuation and keys the program wrote itself). */
void json_write_raw(json_writer *w, const char *raw);

/* Appends `len` bytes of UTF-8 as a quoted JSON string, escaping quotes,
   backslashes and control characters. */
void json_write_string(json_writer *w, const char *s, size_t len);

#endif
