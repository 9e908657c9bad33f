/* The C test suite's checks, the vendor (played by the `tollgate` CLI), and shared helpers. */
#ifndef TOLLGATE_TEST_HARNESS_H
#define TOLLGATE_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "tollgate.h"

/* A (pointer, length) pair from a NUL-terminated string. */
#define S(str) (str), strlen(str)

extern int g_checks;
extern int g_failures;

void check(bool ok, const char *what, const char *file, int line);
void check_rc(tollgate_result got, tollgate_result want, const char *expr, const char *file,
              int line);
/* Whether a test saw `code` returned where it was expected. */
bool code_seen(tollgate_result code);

#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)
#define CHECK_RC(expr, want) check_rc((expr), (want), #expr, __FILE__, __LINE__)
#define CHECK_STR(a, b) check(strcmp((a), (b)) == 0, #a " == " #b, __FILE__, __LINE__)
#define CHECK_CONTAINS(hay, needle) \
  check(strstr((hay), (needle)) != NULL, #hay " contains " needle, __FILE__, __LINE__)

/* The calling thread's last error message (static buffer), for diagnostics. */
const char *last_error(void);

/* Temporary directories, removed at exit. */
const char *work_dir(void);
/* A new path under the work directory: `work_dir()/name`. Static storage, 8 in rotation. */
const char *work_path(const char *name);
bool write_text_file(const char *path, const char *text);

/* The vendor: `tollgate --json vendor …` in the work directory ($TOLLGATE_BIN). */
bool vendor_setup(void);
/* The host configuration JSON written by `tollgate vendor host-config`. */
const char *vendor_host_config(void);
/* Issues a license; returns its key (static storage, 8 in rotation) or NULL. */
const char *vendor_issue(const char *args);
/* Answers a usage request; returns the usage license (caller frees) or NULL. */
char *vendor_fulfil(const char *request);
/* Verifies a deactivation code and frees the seat. */
bool vendor_deactivate(const char *code);

/* Suites. */
void test_vectors(const char *vectors_dir);

#endif
