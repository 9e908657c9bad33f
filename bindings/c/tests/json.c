/* A minimal recursive-descent JSON reader for the tests; see json.h. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
  const char *p;
  const char *end;
  int depth;
} parser;

static bool parse_value(parser *ps, json_value *out);
static void free_inner(json_value *v);

static void skip_ws(parser *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
    ps->p++;
  }
}

static bool literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
    return false;
  }
  ps->p += n;
  return true;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool hex4(parser *ps, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    if (ps->p >= ps->end) return false;
    int d = hex_digit(*ps->p++);
    if (d < 0) return false;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return true;
}

static size_t put_utf8(char *dst, unsigned cp) {
  if (cp < 0x80) {
    dst[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    dst[0] = (char)(0xc0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    dst[0] = (char)(0xe0 | (cp >> 12));
    dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  dst[0] = (char)(0xf0 | (cp >> 18));
  dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  dst[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a string at ps->p (on the opening quote) into a new NUL-terminated buffer. */
static bool parse_string(parser *ps, char **out, size_t *out_len) {
  if (ps->p >= ps->end || *ps->p != '"') return false;
  ps->p++;
  /* The decoded text is never longer than the encoded one. */
  char *buf = malloc((size_t)(ps->end - ps->p) + 1);
  if (buf == NULL) return false;
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != '"') {
    char c = *ps->p++;
    if ((unsigned char)c < 0x20) goto fail;
    if (c != '\\') {
      buf[n++] = c;
      continue;
    }
    if (ps->p >= ps->end) goto fail;
    char e = *ps->p++;
    switch (e) {
      case '"': buf[n++] = '"'; break;
      case '\\': buf[n++] = '\\'; break;
      case '/': buf[n++] = '/'; break;
      case 'b': buf[n++] = '\b'; break;
      case 'f': buf[n++] = '\f'; break;
      case 'n': buf[n++] = '\n'; break;
      case 'r': buf[n++] = '\r'; break;
      case 't': buf[n++] = '\t'; break;
      case 'u': {
        unsigned cp;
        if (!hex4(ps, &cp)) goto fail;
        if (cp >= 0xd800 && cp < 0xdc00) {
          unsigned lo;
          if (!literal(ps, "\\u") || !hex4(ps, &lo) || lo < 0xdc00 || lo > 0xdfff) goto fail;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        n += put_utf8(buf + n, cp);
        break;
      }
      default: goto fail;
    }
  }
  if (ps->p >= ps->end) goto fail;
  ps->p++; /* closing quote */
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return true;
fail:
  free(buf);
  return false;
}

static bool parse_number(parser *ps, json_value *out) {
  const char *start = ps->p;
  bool integer = true;
  if (ps->p < ps->end && *ps->p == '-') {
    integer = false;
    ps->p++;
  }
  while (ps->p < ps->end && strchr("0123456789.eE+-", *ps->p) != NULL) {
    if (strchr(".eE+-", *ps->p) != NULL) integer = false;
    ps->p++;
  }
  size_t n = (size_t)(ps->p - start);
  if (n == 0 || n > 63) return false;
  char tmp[64];
  memcpy(tmp, start, n);
  tmp[n] = '\0';
  char *end = NULL;
  out->type = JSON_NUMBER;
  out->number = strtod(tmp, &end);
  if (end != tmp + n) return false;
  if (integer) {
    out->is_uint = true;
    out->uint = strtoull(tmp, NULL, 10);
  }
  return true;
}

static bool push(json_value *v, size_t *cap, const json_value *item, char *key) {
  if (v->count == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    json_value *items = realloc(v->items, ncap * sizeof *items);
    if (items == NULL) return false;
    v->items = items;
    if (v->type == JSON_OBJECT) {
      char **keys = realloc(v->keys, ncap * sizeof *keys);
      if (keys == NULL) return false;
      v->keys = keys;
    }
    *cap = ncap;
  }
  v->items[v->count] = *item;
  if (v->type == JSON_OBJECT) v->keys[v->count] = key;
  v->count++;
  return true;
}

static bool parse_container(parser *ps, json_value *out, bool object) {
  size_t cap = 0;
  out->type = object ? JSON_OBJECT : JSON_ARRAY;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
    ps->p++;
    return true;
  }
  for (;;) {
    char *key = NULL;
    size_t key_len = 0;
    json_value item;
    memset(&item, 0, sizeof item);
    skip_ws(ps);
    if (object) {
      if (!parse_string(ps, &key, &key_len)) return false;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        return false;
      }
      ps->p++;
    }
    if (!parse_value(ps, &item) || !push(out, &cap, &item, key)) {
      free(key);
      free_inner(&item);
      return false;
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
      ps->p++;
      return true;
    }
    return false;
  }
}

static bool parse_value(parser *ps, json_value *out) {
  memset(out, 0, sizeof *out);
  if (++ps->depth > MAX_DEPTH) return false;
  skip_ws(ps);
  bool ok = false;
  if (ps->p >= ps->end) {
    ok = false;
  } else if (*ps->p == '{') {
    ok = parse_container(ps, out, true);
  } else if (*ps->p == '[') {
    ok = parse_container(ps, out, false);
  } else if (*ps->p == '"') {
    out->type = JSON_STRING;
    ok = parse_string(ps, &out->string, &out->string_len);
  } else if (literal(ps, "true")) {
    out->type = JSON_BOOL;
    out->boolean = true;
    ok = true;
  } else if (literal(ps, "false")) {
    out->type = JSON_BOOL;
    ok = true;
  } else if (literal(ps, "null")) {
    out->type = JSON_NULL;
    ok = true;
  } else {
    ok = parse_number(ps, out);
  }
  ps->depth--;
  return ok;
}

static void free_inner(json_value *v) {
  free(v->string);
  for (size_t i = 0; i < v->count; i++) {
    free_inner(&v->items[i]);
    if (v->keys != NULL) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
}

void json_free(json_value *v) {
  if (v == NULL) return;
  free_inner(v);
  free(v);
}

json_value *json_parse(const char *text, size_t len) {
  parser ps = {text, text + len, 0};
  json_value *v = calloc(1, sizeof *v);
  if (v == NULL) return NULL;
  bool ok = parse_value(&ps, v);
  skip_ws(&ps);
  if (!ok || ps.p != ps.end) {
    json_free(v);
    return NULL;
  }
  return v;
}

const json_value *json_get(const json_value *object, const char *key) {
  if (object == NULL || object->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < object->count; i++) {
    if (strcmp(object->keys[i], key) == 0) return &object->items[i];
  }
  return NULL;
}

const char *json_string(const json_value *v) {
  return v != NULL && v->type == JSON_STRING ? v->string : NULL;
}

const char *json_get_string(const json_value *object, const char *key) {
  return json_string(json_get(object, key));
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    cap *= 2;
    char *bigger = realloc(buf, cap + 1);
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
    } else {
      buf = bigger;
    }
  }
  bool failed = ferror(f) != 0;
  fclose(f);
  if (buf == NULL || failed) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}
