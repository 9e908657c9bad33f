/* Checks, temporary files and the vendor (the `tollgate` CLI) for the C test suite. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>

int g_checks;
int g_failures;
static bool g_seen[1024];

void check(bool ok, const char *what, const char *file, int line) {
  g_checks++;
  if (!ok) {
    g_failures++;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
  }
}

void check_rc(tollgate_result got, tollgate_result want, const char *expr, const char *file,
              int line) {
  g_checks++;
  if (got == want) {
    if (got < sizeof g_seen) g_seen[got] = true;
    return;
  }
  g_failures++;
  fprintf(stderr, "%s:%d: FAILED: %s returned %u (%s), expected %u (%s); last error: %s\n", file,
          line, expr, got, tollgate_result_name(got), want, tollgate_result_name(want),
          last_error());
}

bool code_seen(tollgate_result code) { return code < sizeof g_seen && g_seen[code]; }

const char *last_error(void) {
  static char buf[4096];
  size_t n = 0;
  if (tollgate_last_error(buf, sizeof buf, &n) != TOLLGATE_OK) return "(none)";
  return buf;
}

static char g_work[256];

static void remove_work_dir(void) {
  if (g_work[0] != '\0' && getenv("TOLLGATE_KEEP_TEST_DIR") == NULL) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_work);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_work);
  }
}

const char *work_dir(void) {
  if (g_work[0] == '\0') {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_work, sizeof g_work, "%s/tollgate-c-test-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(g_work) == NULL) {
      perror("mkdtemp");
      exit(2);
    }
    atexit(remove_work_dir);
  }
  return g_work;
}

const char *work_path(const char *name) {
  static char paths[8][512];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 512, "%s/%s", work_dir(), name);
  return p;
}

bool write_text_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return false;
  size_t n = strlen(text);
  bool ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Runs `tollgate --json vendor ARGS` and parses its standard output; NULL on failure. */
json_value *vendor_run(const char *fmt, ...) {
  const char *bin = getenv("TOLLGATE_BIN");
  if (bin == NULL) {
    fprintf(stderr, "TOLLGATE_BIN is not set (the path of the tollgate CLI)\n");
    return NULL;
  }
  char args[2048], cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' --json vendor %s", bin, args);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return NULL;
  static char out[65536];
  size_t n = fread(out, 1, sizeof out - 1, p);
  int status = pclose(p);
  out[n] = '\0';
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "vendor command failed (%d): %s\n", status, cmd);
    return NULL;
  }
  return json_parse(out, n);
}

static char g_host_config[4096];

bool vendor_setup(void) {
  if (setenv("TOLLGATE_VENDOR_DIR", work_path("vendor"), 1) != 0) return false;
  /* The vendor holds the development root: its public key is the TOLLGATE_VENDOR_ROOT these
   * tests are compiled with (tollgate_vendor_root.h). */
  const char *seed = getenv("TOLLGATE_DEV_ROOT_SEED");
  if (seed == NULL) {
    fprintf(stderr, "TOLLGATE_DEV_ROOT_SEED is not set (tests/fixtures/dev-root.seed)\n");
    return false;
  }
  json_value *v = vendor_run("init --import-root '%s'", seed);
  if (v == NULL) return false;
  json_free(v);
  const char *path = work_path("host.json");
  v = vendor_run("host-config --product chariot --product-version 4.2.0 --out '%s'", path);
  if (v == NULL) return false;
  json_free(v);
  size_t n = 0;
  char *text = read_file(path, &n);
  if (text == NULL || n >= sizeof g_host_config) {
    free(text);
    return false;
  }
  memcpy(g_host_config, text, n + 1);
  free(text);
  return true;
}

const char *vendor_host_config(void) { return g_host_config; }

const char *vendor_issue(const char *args) {
  static char keys[8][64];
  static int next;
  json_value *v = vendor_run("issue --product chariot --customer 'ACME Industrial' %s", args);
  const char *key = json_get_string(v, "key");
  char *out = NULL;
  if (key != NULL && strlen(key) < 64) {
    out = keys[next++ % 8];
    strcpy(out, key);
  }
  json_free(v);
  return out;
}

char *vendor_fulfil(const char *request) { return vendor_fulfil_as(request, NULL); }

char *vendor_fulfil_as(const char *request, const char *model) {
  const char *path = work_path("request.tgrq");
  if (!write_text_file(path, request)) return NULL;
  json_value *v = model != NULL ? vendor_run("fulfil --model %s '%s'", model, path)
                                : vendor_run("fulfil '%s'", path);
  const char *ul = json_get_string(v, "usage_license");
  char *out = ul != NULL ? strdup(ul) : NULL;
  json_free(v);
  return out;
}

bool vendor_deactivate(const char *code) {
  const char *path = work_path("code.tgdc");
  if (!write_text_file(path, code)) return false;
  json_value *v = vendor_run("deactivate '%s'", path);
  const json_value *freed = json_get(v, "freed");
  bool ok = freed != NULL && freed->type == JSON_BOOL && freed->boolean;
  json_free(v);
  return ok;
}
