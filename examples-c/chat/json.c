/*
 * json.c: see json.h. A strict reader (RFC 8259: no trailing commas, no
 * comments, no control characters inside strings) that decodes only the
 * strings it is asked for, and a writer that escapes what JSON requires.
 */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16

typedef struct {
  const char *p;   /* next character */
  const char *end; /* one past the last */
} reader;

static void skip_space(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* Takes `c` when it is next (after white space). */
static int take(reader *r, char c) {
  skip_space(r);
  if (r->p < r->end && *r->p == c) {
    r->p++;
    return 1;
  }
  return 0;
}

static int hex4(reader *r, unsigned *out) {
  if (r->end - r->p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = *r->p++;
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* Appends one byte to out (when out is not NULL); -1 when it is full. */
static int put(char *out, size_t cap, size_t *n, unsigned char c) {
  if (!out) return 0;
  if (*n + 1 >= cap) return -1;
  out[(*n)++] = (char)c;
  return 0;
}

/* Appends the UTF-8 encoding of code point `cp`. */
static int put_utf8(char *out, size_t cap, size_t *n, unsigned cp) {
  if (cp < 0x80) return put(out, cap, n, (unsigned char)cp);
  if (cp < 0x800)
    return put(out, cap, n, (unsigned char)(0xC0 | cp >> 6)) ||
           put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)));
  if (cp < 0x10000)
    return put(out, cap, n, (unsigned char)(0xE0 | cp >> 12)) ||
           put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) ||
           put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)));
  return put(out, cap, n, (unsigned char)(0xF0 | cp >> 18)) ||
         put(out, cap, n, (unsigned char)(0x80 | ((cp >> 12) & 0x3F))) ||
         put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3F))) ||
         put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3F)));
}

/* Reads a string (the opening quote is next) and decodes it into `out`
   (`cap` bytes, NUL-terminated, length in *len), or only checks it when `out`
   is NULL. The text is valid UTF-8 already (the library checks text
   messages), so bytes from 0x80 up are copied as they are. */
static int read_string(reader *r, char *out, size_t cap, size_t *len) {
  size_t n = 0;
  if (!take(r, '"')) return -1;
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p++;
    if (c == '"') {
      if (out) out[n] = '\0';
      if (len) *len = n;
      return 0;
    }
    if (c < 0x20) return -1; /* control characters must be escaped */
    if (c != '\\') {
      if (put(out, cap, &n, c)) return -1;
      continue;
    }
    if (r->p == r->end) return -1;
    char e = *r->p++;
    unsigned cp;
    switch (e) {
      case '"': case '\\': case '/': cp = (unsigned char)e; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        if (hex4(r, &cp)) return -1;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return -1; /* a lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {          /* a high one: its pair follows */
          unsigned low;
          if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return -1;
          r->p += 2;
          if (hex4(r, &low) || low < 0xDC00 || low > 0xDFFF) return -1;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        break;
      default: return -1;
    }
    if (put_utf8(out, cap, &n, cp)) return -1;
  }
  return -1; /* no closing quote */
}

static int skip_value(reader *r, int depth);

/* Skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int skip_number(reader *r) {
  const char *start = r->p;
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p < r->end && *r->p == '0') {
    r->p++;
  } else {
    const char *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p == digits) return -1;
  }
  if (r->p < r->end && *r->p == '.') {
    const char *digits = ++r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p == digits) return -1;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    const char *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p == digits) return -1;
  }
  return r->p > start ? 0 : -1;
}

static int skip_word(reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return -1;
  r->p += n;
  return 0;
}

/* Skips an array (the '[' is next). */
static int skip_array(reader *r, int depth) {
  take(r, '[');
  if (take(r, ']')) return 0;
  do {
    if (skip_value(r, depth + 1)) return -1;
  } while (take(r, ','));
  return take(r, ']') ? 0 : -1;
}

/* Reads an object (the '{' is next): with `fields`, fills those asked for;
   nested objects are passed count 0, so they are only checked. */
static int read_members(reader *r, int depth, json_field *fields, size_t count) {
  if (depth > MAX_DEPTH || !take(r, '{')) return -1;
  if (take(r, '}')) return 0;
  do {
    char key[64];
    size_t key_len;
    const char *key_start = r->p;
    if (read_string(r, key, sizeof key, &key_len)) {
      /* a key longer than any asked for: check it, match nothing */
      r->p = key_start;
      if (read_string(r, NULL, 0, NULL)) return -1;
      key_len = SIZE_MAX;
    }
    if (!take(r, ':')) return -1;
    skip_space(r);
    json_field *field = NULL;
    for (size_t i = 0; i < count && key_len != SIZE_MAX; i++)
      if (strlen(fields[i].key) == key_len && memcmp(fields[i].key, key, key_len) == 0) field = &fields[i];
    if (field && r->p < r->end && *r->p == '"') {
      if (read_string(r, field->out, field->cap, &field->len)) return -1;
      field->found = 1;
    } else if (skip_value(r, depth + 1)) {
      return -1;
    }
  } while (take(r, ','));
  return take(r, '}') ? 0 : -1;
}

static int skip_value(reader *r, int depth) {
  if (depth > MAX_DEPTH) return -1;
  skip_space(r);
  if (r->p == r->end) return -1;
  switch (*r->p) {
    case '{': return read_members(r, depth, NULL, 0);
    case '[': return skip_array(r, depth);
    case '"': return read_string(r, NULL, 0, NULL);
    case 't': return skip_word(r, "true");
    case 'f': return skip_word(r, "false");
    case 'n': return skip_word(r, "null");
    default: return skip_number(r);
  }
}

int json_read_object(const char *text, size_t len, json_field *fields, size_t count) {
  reader r = {text, text + len};
  for (size_t i = 0; i < count; i++) {
    fields[i].found = 0;
    fields[i].len = 0;
  }
  if (read_members(&r, 0, fields, count)) return -1;
  skip_space(&r);
  return r.p == r.end ? 0 : -1; /* nothing may follow the object */
}

void json_writer_init(json_writer *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = cap == 0;
  if (cap) buf[0] = '\0';
}

static void write_bytes(json_writer *w, const char *s, size_t n) {
  if (w->overflow) return;
  if (w->len + n >= w->cap) {
    w->overflow = 1;
    return;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

void json_write_raw(json_writer *w, const char *raw) { write_bytes(w, raw, strlen(raw)); }

void json_write_string(json_writer *w, const char *s, size_t len) {
  write_bytes(w, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
      case '"': write_bytes(w, "\\\"", 2); break;
      case '\\': write_bytes(w, "\\\\", 2); break;
      case '\n': write_bytes(w, "\\n", 2); break;
      case '\r': write_bytes(w, "\\r", 2); break;
      case '\t': write_bytes(w, "\\t", 2); break;
      default:
        if (c < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", c);
          write_bytes(w, esc, 6);
        } else {
          write_bytes(w, &s[i], 1);
        }
    }
  }
  write_bytes(w, "\"", 1);
}
