/*
 * A minimal JSON reader for the C tests: enough for tests/vectors/manifest.json, the
 * `tollgate --json` outputs and the C API's own JSON. Not for production use: it trusts its
 * input to be small, and stops at the first error.
 */
#ifndef TOLLGATE_TEST_JSON_H
#define TOLLGATE_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
  json_type type;
  bool boolean;
  double number;
  /* The number as an unsigned integer, when it is one. */
  bool is_uint;
  uint64_t uint;
  /* A string's bytes (NUL-terminated) and length. */
  char *string;
  size_t string_len;
  /* An array's items, or an object's values (keys[i] names items[i]). */
  size_t count;
  struct json_value *items;
  char **keys;
} json_value;

/* Parses `len` bytes of `text`; NULL on a syntax error. Free the result with json_free. */
json_value *json_parse(const char *text, size_t len);
void json_free(json_value *v);

/* The member `key` of an object, or NULL. */
const json_value *json_get(const json_value *object, const char *key);
/* The string of `v` (NULL unless a string). */
const char *json_string(const json_value *v);
/* Shorthand: the string member `key` of `object`, or NULL. */
const char *json_get_string(const json_value *object, const char *key);

/* Reads a whole file; NULL on failure. `*len` gets its length. The caller frees it. */
char *read_file(const char *path, size_t *len);

#endif
