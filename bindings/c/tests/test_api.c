/*
 * The C test suite of libtollgate: every function, every result code the API can produce,
 * NULL and garbage arguments, buffers that are too small, concurrency, and the shared test
 * vectors. Built with -Wall -Wextra -Werror and run under AddressSanitizer + UBSan and under
 * valgrind (bindings/c/test.sh).
 *
 * Usage: test_api VECTORS_DIR   (with TOLLGATE_BIN = the `tollgate` CLI, which plays the vendor)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_ARTIFACT TOLLGATE_MAX_ARTIFACT_LEN

static const char INVALID_UTF8[] = "mqtt-\xff\xfe";

/* A manual clock at the real time: the vendor (the CLI) signs with the real time. */
static uint64_t g_now;

/* ----------------------------------------------------------------------------------------- */
/* Hosts                                                                                      */

/* The configuration of a simulated machine: the compiled-in root, the vendor's host
 * configuration (options), no probes, and four components named after the machine (kinds the
 * probes read, so the override is allowed: this is a test). */
static tollgate_config *machine_config(const char *machine) {
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(vendor_host_config()), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  static const uint8_t kinds[4] = {TOLLGATE_COMPONENT_MACHINE_ID, TOLLGATE_COMPONENT_MAC,
                                   TOLLGATE_COMPONENT_ROOT_DISK, TOLLGATE_COMPONENT_HOSTNAME};
  for (int i = 0; i < 4; i++) {
    char raw[64];
    snprintf(raw, sizeof raw, "%s-component-%d", machine, i);
    CHECK_RC(tollgate_config_add_component(cfg, kinds[i], (const uint8_t *)raw, strlen(raw)),
             TOLLGATE_OK);
  }
  return cfg;
}

static tollgate_manager *open_host(const char *machine, const char *dir, tollgate_clock *clock) {
  tollgate_config *cfg = machine_config(machine);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(work_path(dir)), clock, &m), TOLLGATE_OK);
  tollgate_config_free(cfg);
  return m;
}

static tollgate_status status_of(const tollgate_manager *m) {
  tollgate_status s;
  memset(&s, 0xab, sizeof s);
  CHECK_RC(tollgate_manager_status(m, &s), TOLLGATE_OK);
  return s;
}

/* Requests with `key`; returns the request (static, 4 in rotation). */
static const char *request(tollgate_manager *m, const char *key) {
  static char bufs[4][MAX_ARTIFACT];
  static int next;
  char *buf = bufs[next++ % 4];
  size_t n = 0;
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, MAX_ARTIFACT, &n), TOLLGATE_OK);
  CHECK(n == strlen(buf) && strncmp(buf, "TGRQ:", 5) == 0);
  return buf;
}

static const char *renew(tollgate_manager *m) {
  static char buf[MAX_ARTIFACT];
  size_t n = 0;
  CHECK_RC(tollgate_manager_request_renewal(m, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK(n == strlen(buf) && strncmp(buf, "TGRQ:", 5) == 0);
  return buf;
}

static bool has(const tollgate_manager *m, const char *feature) {
  return tollgate_manager_has_feature(m, S(feature));
}

/* ----------------------------------------------------------------------------------------- */

static void test_static_functions(void) {
  puts("static functions: version, messages, names, last error");
  /* No call has failed yet on this thread. */
  char buf[256];
  size_t n = 12345;
  CHECK_RC(tollgate_last_error(buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);
  CHECK(n == 12345);
  CHECK_RC(tollgate_last_error(buf, sizeof buf, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_last_error(buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);

  const char *v = tollgate_version();
  CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);

  /* Every defined code has a name and a message; their numbers never change. */
  static const tollgate_result defined[] = {
      TOLLGATE_OK, TOLLGATE_NULL_ARGUMENT, TOLLGATE_INVALID_UTF8, TOLLGATE_BUFFER_TOO_SMALL,
      TOLLGATE_PANIC, TOLLGATE_POISONED, TOLLGATE_NOT_FOUND};
  for (size_t i = 0; i < sizeof defined / sizeof defined[0]; i++) {
    CHECK(defined[i] == i);
    CHECK(strcmp(tollgate_result_name(defined[i]), "Unknown") != 0);
  }
  for (tollgate_result c = 7; c < 300; c++) {
    bool known = (c >= 100 && c <= 128) || (c >= 130 && c <= 134) || (c >= 200 && c <= 217) || (c >= 230 && c <= 241) || (c >= 255 && c <= 256) ||
                 (c >= 260 && c <= 261);
    CHECK((strcmp(tollgate_result_message(c), "unknown result code") != 0) == known);
    CHECK((strcmp(tollgate_result_name(c), "Unknown") != 0) == known);
  }
  CHECK_STR(tollgate_result_name(TOLLGATE_ERR_KEY_CHECKSUM), "KeyChecksum");
  CHECK_STR(tollgate_result_message(TOLLGATE_ERR_KEY_CHECKSUM), "the license key contains a typo");
  CHECK_STR(tollgate_result_name(TOLLGATE_ERR_SUPERSEDED_REQUEST), "SupersededRequest");
  CHECK_STR(tollgate_result_name(TOLLGATE_BUFFER_TOO_SMALL), "BufferTooSmall");
  CHECK_STR(tollgate_result_message(999), "unknown result code");
  CHECK_STR(tollgate_result_name(999), "Unknown");
  CHECK(TOLLGATE_ERR_ARMOR_PREFIX == 100 && TOLLGATE_ERR_LIMIT_EXCEEDED == 120);
  CHECK(TOLLGATE_ERR_NOT_ACTIVATED == 200 && TOLLGATE_ERR_UNSUPPORTED_STATE_VERSION == 217);
  CHECK(TOLLGATE_ERR_SERVICE_UNREACHABLE == 230 && TOLLGATE_ERR_BAD_RESPONSE == 234);
  CHECK(TOLLGATE_ERR_KEY_NOT_CERTIFIED == 124 && TOLLGATE_ERR_UNTRUSTED_CONFIG == 235 &&
        TOLLGATE_ERR_WRONG_MODEL == 239);
  CHECK_STR(tollgate_result_name(TOLLGATE_ERR_UNTRUSTED_CONFIG), "UntrustedConfig");
  CHECK_STR(tollgate_result_name(TOLLGATE_ERR_KEY_NOT_CERTIFIED), "KeyNotCertified");

  /* After a failure: the detailed message, with the size protocol. */
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S("{"), &cfg), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(cfg == NULL);
  n = 0;
  CHECK_RC(tollgate_last_error(NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  size_t need = n;
  CHECK(need > 10);
  char *msg = malloc(need);
  CHECK_RC(tollgate_last_error(msg, need - 1, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(n == need);
  CHECK_RC(tollgate_last_error(msg, need, &n), TOLLGATE_OK);
  CHECK(n == need - 1 && strlen(msg) == n);
  CHECK_CONTAINS(msg, "not a Tollgate host configuration");
  CHECK_RC(tollgate_last_error(buf, 4, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_last_error(NULL, 4, &n), TOLLGATE_NULL_ARGUMENT);
  /* The message functions never replace the last error. */
  CHECK_RC(tollgate_last_error(msg, need, &n), TOLLGATE_OK);
  CHECK_CONTAINS(msg, "not a Tollgate host configuration");
  free(msg);
}

static void test_config(void) {
  puts("configuration: root, new, from JSON, certificates, components, probes, settings");
  tollgate_config *cfg = NULL;
  const uint8_t salt[] = "salt";
  const uint8_t root33[33] = {0};
  /* The root: 32 bytes, required. */
  CHECK_RC(tollgate_config_new(NULL, 32, S("p"), S("1"), salt, 4, &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_new(TOLLGATE_VENDOR_ROOT, 31, S("p"), S("1"), salt, 4, &cfg),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(last_error(), "32 bytes");
  CHECK_RC(tollgate_config_new(root33, 33, S("p"), S("1"), salt, 4, &cfg),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_new(TOLLGATE_VENDOR_ROOT, 0, S("p"), S("1"), salt, 4, &cfg),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_new(ROOT, NULL, 1, S("1"), salt, 4, &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), NULL, 1, salt, 4, &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), S("1"), NULL, 4, &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), S("1"), salt, 4, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_new(ROOT, S(INVALID_UTF8), S("1"), salt, 4, &cfg),
           TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), S(INVALID_UTF8), salt, 4, &cfg),
           TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), S("1"), salt, SIZE_MAX, &cfg),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(cfg == NULL);
  CHECK_RC(tollgate_config_new(ROOT, S("p"), S("1"), salt, 4, &cfg), TOLLGATE_OK);
  CHECK(cfg != NULL);

  CHECK_RC(tollgate_config_add_key_certificate(NULL, S("TGKC:x")), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_add_key_certificate(cfg, NULL, 3), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_add_key_certificate(cfg, S(INVALID_UTF8)), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_config_set_key_list(NULL, S("TGKL:x")), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_set_key_list(cfg, NULL, 3), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_set_key_list(cfg, S(INVALID_UTF8)), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_config_allow_component_override(NULL, true), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_allow_component_override(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(NULL, false), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(NULL, 1, salt, 4), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_add_component(cfg, 1, NULL, 4), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_add_component(cfg, 0, salt, 4), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_add_component(cfg, 9, salt, 4), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_OPERATOR, salt, 4), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_WORKLOAD, salt, 0), TOLLGATE_OK);
  CHECK_RC(tollgate_config_replace_component(NULL, 5), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_replace_component(cfg, 200), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_replace_component(cfg, TOLLGATE_COMPONENT_HOSTNAME), TOLLGATE_OK);
  CHECK_RC(tollgate_config_replace_component(cfg, TOLLGATE_COMPONENT_HOSTNAME), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_warn_days(NULL, 1), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_set_warn_days(cfg, 10), TOLLGATE_OK);
  tollgate_config_free(cfg);
  tollgate_config_free(NULL);

  /* JSON: options only; the root comes from the caller. */
  cfg = NULL;
  CHECK_RC(tollgate_config_from_json(NULL, 32, S("{}"), &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_from_json(TOLLGATE_VENDOR_ROOT, 16, S(vendor_host_config()), &cfg),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_config_from_json(ROOT, NULL, 3, &cfg), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_from_json(ROOT, S("{}"), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_config_from_json(ROOT, S(INVALID_UTF8), &cfg), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_config_from_json(ROOT, S("[1,2]"), &cfg), TOLLGATE_ERR_INVALID_ARGUMENT);
  /* A file that names a key, a root or a tolerance is refused, whatever its value. */
  static const char *const untrusted[] = {
      "{\"product\":\"p\",\"product_version\":\"1\",\"fingerprint_salt\":\"s\","
      "\"vendor_keys\":[\"43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c\"]}",
      "{\"product\":\"p\",\"product_version\":\"1\",\"fingerprint_salt\":\"s\","
      "\"vendor_keys\":[\"xyz\"]}",
      "{\"product\":\"p\",\"product_version\":\"1\",\"fingerprint_salt\":\"s\","
      "\"rollback_tolerance_secs\":999999999}",
      "{\"product\":\"p\",\"product_version\":\"1\",\"fingerprint_salt\":\"s\","
      "\"vendor_root\":\"00\"}"};
  for (size_t i = 0; i < sizeof untrusted / sizeof untrusted[0]; i++) {
    CHECK_RC(tollgate_config_from_json(ROOT, S(untrusted[i]), &cfg),
             TOLLGATE_ERR_UNTRUSTED_CONFIG);
    CHECK(cfg == NULL);
  }
  CHECK_CONTAINS(last_error(), "vendor_root");
  CHECK_RC(tollgate_config_from_json(ROOT, S(vendor_host_config()), &cfg), TOLLGATE_OK);
  tollgate_config_free(cfg);

  /* Component names */
  uint8_t kind = 0;
  CHECK_RC(tollgate_component_kind_from_name(S("hostname"), &kind), TOLLGATE_OK);
  CHECK(kind == TOLLGATE_COMPONENT_HOSTNAME);
  CHECK_RC(tollgate_component_kind_from_name(S("cloud-instance"), &kind), TOLLGATE_OK);
  CHECK(kind == TOLLGATE_COMPONENT_CLOUD_INSTANCE);
  kind = 77;
  CHECK_RC(tollgate_component_kind_from_name(S("Hostname"), &kind),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_component_kind_from_name(S(INVALID_UTF8), &kind), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_component_kind_from_name(NULL, 1, &kind), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_component_kind_from_name(S("mac"), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK(kind == 77);
}

static void test_clock(void) {
  puts("manual clock");
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(5, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_clock_new_manual(5, &clock), TOLLGATE_OK);
  CHECK_RC(tollgate_clock_set(NULL, 1), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_clock_advance(NULL, 1), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_clock_set(clock, 1), TOLLGATE_OK);
  CHECK_RC(tollgate_clock_advance(clock, UINT64_MAX), TOLLGATE_OK);
  tollgate_clock_free(clock);
  tollgate_clock_free(NULL);
}

/* Every manager function with a NULL handle. */
static void test_null_manager(void) {
  puts("NULL handles and pointers");
  char buf[MAX_ARTIFACT];
  size_t n = 0;
  tollgate_status st;
  tollgate_meter_reading r;
  tollgate_config *cfg = machine_config("nullcheck");
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  tollgate_manager *m = NULL;
  const char *dir = work_path("nullcheck");
  CHECK_RC(tollgate_manager_open(NULL, S(dir), &m), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_open(cfg, NULL, 3, &m), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_open(cfg, S(dir), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_open_with_clock(NULL, S(dir), clock, &m), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(dir), NULL, &m), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(dir), clock, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK(m == NULL);
  CHECK_RC(tollgate_manager_request_usage(NULL, S("k"), buf, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_request_renewal(NULL, buf, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_pending_request(NULL, buf, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_install(NULL, S("TGUL:"), &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_status(NULL, &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_status_json(NULL, buf, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK(!tollgate_manager_has_feature(NULL, S("mqtt-server")));
  CHECK(!tollgate_manager_has_feature_at(NULL, S("mqtt-server"), g_now));
  CHECK_RC(tollgate_manager_check(NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_record_usage(NULL, S("f"), 1, &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_meter(NULL, S("f"), &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_refresh(NULL, &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_deactivate(NULL, buf, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_last_deactivation_code(NULL, buf, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_fingerprint_json(NULL, buf, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_verify_usage_license(NULL, S("TGUL:"), g_now, buf, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  tollgate_manager_free(NULL);

  /* A live manager, NULL for every other pointer. */
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(dir), clock, &m), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_request_usage(m, NULL, 5, buf, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_request_usage(m, S("k"), NULL, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_request_usage(m, S("k"), buf, sizeof buf, NULL),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_request_renewal(m, NULL, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_request_renewal(m, buf, sizeof buf, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_pending_request(m, NULL, 10, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_pending_request(m, buf, sizeof buf, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_install(m, NULL, 5, &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_install(m, S("TGUL:"), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_status(m, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_status_json(m, NULL, 10, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_status_json(m, buf, sizeof buf, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK(!tollgate_manager_has_feature(m, NULL, 3));
  CHECK(!tollgate_manager_has_feature_at(m, NULL, 3, g_now));
  CHECK_RC(tollgate_manager_record_usage(m, NULL, 1, 1, &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_record_usage(m, S("f"), 1, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_meter(m, NULL, 1, &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_meter(m, S("f"), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_refresh(m, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_deactivate(m, NULL, sizeof buf, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_deactivate(m, buf, sizeof buf, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_last_deactivation_code(m, NULL, 5, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_last_deactivation_code(m, buf, 5, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_fingerprint_json(m, NULL, 5, &n), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_fingerprint_json(m, buf, 5, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_verify_usage_license(cfg, NULL, 5, g_now, buf, sizeof buf, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_verify_usage_license(cfg, S("x"), g_now, NULL, 5, &n),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_verify_usage_license(cfg, S("x"), g_now, buf, sizeof buf, NULL),
           TOLLGATE_NULL_ARGUMENT);
  /* Nothing happened. */
  CHECK(status_of(m).state == TOLLGATE_STATE_UNLICENSED);

  /* Invalid UTF-8 in every text argument. */
  CHECK_RC(tollgate_manager_request_usage(m, S(INVALID_UTF8), buf, sizeof buf, &n),
           TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_manager_install(m, S(INVALID_UTF8), &st), TOLLGATE_INVALID_UTF8);
  CHECK(!tollgate_manager_has_feature(m, S(INVALID_UTF8)));
  CHECK(!tollgate_manager_has_feature_at(m, S(INVALID_UTF8), g_now));
  CHECK_RC(tollgate_manager_record_usage(m, S(INVALID_UTF8), 1, &r), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_manager_meter(m, S(INVALID_UTF8), &r), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_verify_usage_license(cfg, S(INVALID_UTF8), g_now, buf, sizeof buf, &n),
           TOLLGATE_INVALID_UTF8);
  tollgate_manager_free(m);
  tollgate_clock_free(clock);
  tollgate_config_free(cfg);
}

static void test_open_failures(void) {
  puts("open: storage, lock, corrupt and newer state, configuration errors");
  tollgate_config *cfg = machine_config("open");
  tollgate_manager *m = NULL, *m2 = NULL;

  /* A state directory below a regular file. */
  const char *file = work_path("a-file");
  CHECK(write_text_file(file, "x"));
  char below[600];
  snprintf(below, sizeof below, "%s/state", file);
  CHECK_RC(tollgate_manager_open(cfg, S(below), &m), TOLLGATE_ERR_STORAGE);
  CHECK(m == NULL);

  /* Locked while open; free unlocks. */
  const char *dir = work_path("locked");
  CHECK_RC(tollgate_manager_open(cfg, S(dir), &m), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open(cfg, S(dir), &m2), TOLLGATE_ERR_STATE_LOCKED);
  CHECK(m2 == NULL);
  tollgate_manager_free(m);
  CHECK_RC(tollgate_manager_open(cfg, S(dir), &m), TOLLGATE_OK);
  tollgate_manager_free(m);

  /* A damaged state document, and one from a newer version: left alone. */
  char state[600];
  const char *corrupt = work_path("corrupt");
  CHECK_RC(tollgate_manager_open(cfg, S(corrupt), &m), TOLLGATE_OK);
  tollgate_manager_free(m);
  snprintf(state, sizeof state, "%s/state.json", corrupt);
  CHECK(write_text_file(state, "{ this is not json"));
  m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(corrupt), &m), TOLLGATE_ERR_CORRUPT_STATE);
  CHECK(m == NULL);
  CHECK(write_text_file(state, "{\"format\":\"tollgate-host-state\",\"version\":99}"));
  CHECK_RC(tollgate_manager_open(cfg, S(corrupt), &m), TOLLGATE_ERR_UNSUPPORTED_STATE_VERSION);
  CHECK(m == NULL);
  tollgate_config_free(cfg);

  /* Configuration errors show up at open. */
  const uint8_t salt[] = "s";
  CHECK_RC(tollgate_config_new(ROOT, S(""), S("1.0"), salt, 1, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("cfg-a")), &m),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_config_free(cfg);
  /* A root that is not an ed25519 key. */
  const uint8_t zero[32] = {0};
  CHECK_RC(tollgate_config_new(zero, 32, S("chariot"), S("1.0"), salt, 1, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("cfg-c")), &m), TOLLGATE_ERR_BAD_PUBLIC_KEY);
  char out[64];
  size_t n = 0;
  CHECK_RC(tollgate_verify_usage_license(cfg, S("TGUL:x"), g_now, out, sizeof out, &n),
           TOLLGATE_ERR_BAD_PUBLIC_KEY);
  CHECK(m == NULL);
  tollgate_config_free(cfg);
  /* A certificate the root did not sign, or not a certificate at all. */
  CHECK_RC(tollgate_config_new(ROOT, S("chariot"), S("1.0"), salt, 1, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_key_certificate(cfg, S("TGKC:garbage")),
           TOLLGATE_OK); /* checked at open */
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("cfg-d")), &m), TOLLGATE_ERR_ARMOR_ENCODING);
  CHECK(m == NULL);
  tollgate_config_free(cfg);
  /* A component of a kind the probes read, without the explicit override. */
  CHECK_RC(tollgate_config_new(ROOT, S("chariot"), S("1.0"), salt, 1, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MACHINE_ID, salt, 1),
           TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("cfg-e")), &m),
           TOLLGATE_ERR_COMPONENT_OVERRIDE);
  CHECK_CONTAINS(last_error(), "machine-id");
  CHECK(m == NULL);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("cfg-e")), &m), TOLLGATE_OK);
  tollgate_manager_free(m);
  tollgate_config_free(cfg);
}

/* The whole offline lifecycle with a real vendor (the CLI), and every state error. */
static void test_lifecycle(void) {
  puts("lifecycle: request, install, status, checks, meters, upgrade, deactivate");
  const char *key = vendor_issue(
      "--feature mqtt-server --feature support:for=1y --feature iot-bridge:100/month "
      "--offline-refresh-days 0 "
      "--models offline --activations 5");
  const char *other_key = vendor_issue("--feature mqtt-server --models offline");
  CHECK(key != NULL && other_key != NULL);
  if (key == NULL || other_key == NULL) return;

  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  tollgate_manager *a = open_host("machine-a", "host-a", clock);
  char buf[MAX_ARTIFACT];
  size_t n = 0;
  tollgate_status st;
  tollgate_meter_reading r;

  /* Unlicensed. */
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_UNLICENSED && st.error_code == 0 && !st.has_license &&
        !st.pending_request && st.license_id == 0);
  CHECK(!has(a, "mqtt-server"));
  CHECK_RC(tollgate_manager_check(a), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_manager_request_renewal(a, buf, sizeof buf, &n), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_manager_deactivate(a, buf, sizeof buf, &n), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_manager_meter(a, S("iot-bridge"), &r), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), 1, &r), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_manager_pending_request(a, buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);
  CHECK_RC(tollgate_manager_last_deactivation_code(a, buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);

  /* A request needs a buffer of TOLLGATE_MAX_ARTIFACT_LEN; with less, nothing happens. */
  n = 0;
  CHECK_RC(tollgate_manager_request_usage(a, S(key), buf, MAX_ARTIFACT - 1, &n),
           TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(n == MAX_ARTIFACT);
  CHECK_RC(tollgate_manager_request_usage(a, S(key), NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(status_of(a).state == TOLLGATE_STATE_UNLICENSED);
  CHECK_RC(tollgate_manager_request_usage(a, S("ENF9Y-M3N56-ZXJYP-CEX7C-N8WUE"), buf, sizeof buf,
                                          &n),
           TOLLGATE_ERR_KEY_CHECKSUM);
  CHECK_RC(tollgate_manager_request_usage(a, S("ENF9Y"), buf, sizeof buf, &n),
           TOLLGATE_ERR_KEY_FORMAT);

  /* Request (the key as a person may type it: lower case, no dashes). */
  char typed[64];
  size_t t = 0;
  for (const char *p = key; *p != '\0'; p++) {
    if (*p != '-') typed[t++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
  }
  typed[t] = '\0';
  const char *req1 = request(a, typed);
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_PENDING && st.pending_request);
  /* Show it again, with the size protocol. */
  n = 0;
  CHECK_RC(tollgate_manager_pending_request(a, NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(n == strlen(req1) + 1);
  char small[8] = "1234567";
  CHECK_RC(tollgate_manager_pending_request(a, small, sizeof small, &n),
           TOLLGATE_BUFFER_TOO_SMALL);
  CHECK_STR(small, "1234567");
  CHECK_RC(tollgate_manager_pending_request(a, buf, strlen(req1) + 1, &n), TOLLGATE_OK);
  CHECK(n == strlen(req1));
  CHECK_STR(buf, req1);

  /* The vendor answers; install. */
  char *ul1 = vendor_fulfil(req1);
  CHECK(ul1 != NULL && strncmp(ul1, "TGUL:", 5) == 0);
  if (ul1 == NULL) return;
  memset(&st, 0, sizeof st);
  CHECK_RC(tollgate_manager_install(a, S("garbage"), &st), TOLLGATE_ERR_ARMOR_PREFIX);
  CHECK_RC(tollgate_manager_install(a, S(req1), &st), TOLLGATE_ERR_WRONG_ARTIFACT_TYPE);
  CHECK(st.state == 0 && st.license_id == 0); /* nothing written on failure */
  CHECK_RC(tollgate_manager_install(a, S(ul1), &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && st.error_code == 0 && st.has_license);
  CHECK(!st.pending_request && st.license_id > 0 && st.revision == 1 && st.activation_id > 0);
  CHECK(st.deployment_model == TOLLGATE_MODEL_OFFLINE);
  CHECK(st.valid_from == 0 && st.valid_until == UINT64_MAX && st.refresh_deadline == UINT64_MAX);
  CHECK(st.feature_count == 3 && st.active_feature_count == 3 && st.warning_count == 0);
  CHECK(st.fingerprint_matched == 4 && st.fingerprint_licensed == 4 &&
        st.fingerprint_required >= 1);
  tollgate_status again = status_of(a);
  CHECK(again.state == st.state && again.license_id == st.license_id &&
        again.activation_id == st.activation_id && again.valid_until == st.valid_until &&
        again.feature_count == st.feature_count && again.fingerprint_matched == 4);
  CHECK_RC(tollgate_manager_check(a), TOLLGATE_OK);
  CHECK(has(a, "mqtt-server") && has(a, "support") && has(a, "iot-bridge"));
  CHECK(!has(a, "mqtt-serve") && !has(a, "") && !has(a, "mqtt-server\n"));
  CHECK(tollgate_manager_has_feature(a, "mqtt-server-and-more", 11));
  CHECK(tollgate_manager_has_feature_at(a, S("mqtt-server"), g_now));
  CHECK(tollgate_manager_has_feature_at(a, S("support"), g_now + 300 * 86400));
  CHECK(!tollgate_manager_has_feature_at(a, S("support"), g_now + 400 * 86400));
  /* Installing the same license again changes nothing. */
  CHECK_RC(tollgate_manager_install(a, S(ul1), &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE);

  /* The status as JSON, with the size protocol. */
  n = 0;
  CHECK_RC(tollgate_manager_status_json(a, NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  size_t need = n;
  char *json = malloc(need + 64); /* the status may grow between two calls */
  CHECK_RC(tollgate_manager_status_json(a, json, 10, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK_RC(tollgate_manager_status_json(a, json, need + 64, &n), TOLLGATE_OK);
  CHECK(n == strlen(json));
  CHECK_CONTAINS(json, "\"state\":\"active\"");
  CHECK_CONTAINS(json, "\"product\":\"chariot\"");
  CHECK_CONTAINS(json, "\"name\":\"iot-bridge\",\"kind\":\"metered\"");
  json_value *parsed = json_parse(json, n);
  CHECK(parsed != NULL && json_get(parsed, "license") != NULL);
  json_free(parsed);
  free(json);

  /* The fingerprint report. */
  n = 0;
  CHECK_RC(tollgate_manager_fingerprint_json(a, NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  json = malloc(n);
  CHECK_RC(tollgate_manager_fingerprint_json(a, json, n, &n), TOLLGATE_OK);
  CHECK_CONTAINS(json, "\"match\":{\"matched\":4,\"licensed\":4");
  CHECK(strstr(json, "machine-a") == NULL); /* raw identifiers never leave */
  free(json);

  /* Stateless verification of the same license. */
  tollgate_config *cfg_a = machine_config("machine-a");
  tollgate_config *cfg_b = machine_config("machine-b");
  n = 0;
  CHECK_RC(tollgate_verify_usage_license(cfg_a, S(ul1), g_now, NULL, 0, &n),
           TOLLGATE_BUFFER_TOO_SMALL);
  json = malloc(n);
  CHECK_RC(tollgate_verify_usage_license(cfg_a, S(ul1), g_now, json, n, &n), TOLLGATE_OK);
  CHECK_CONTAINS(json, "\"customer\":\"ACME Industrial\"");
  CHECK_CONTAINS(json, "\"installed_at\":null");
  free(json);
  CHECK_RC(tollgate_verify_usage_license(cfg_b, S(ul1), g_now, buf, sizeof buf, &n),
           TOLLGATE_ERR_FINGERPRINT_MISMATCH);

  /* Meters. */
  memset(&r, 0, sizeof r);
  CHECK_RC(tollgate_manager_meter(a, S("iot-bridge"), &r), TOLLGATE_OK);
  CHECK(r.quota == 100 && r.used == 0 && r.remaining == 100 && r.period == TOLLGATE_PERIOD_MONTH);
  CHECK(r.period_start <= g_now && g_now < r.period_end);
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), 60, &r), TOLLGATE_OK);
  CHECK(r.used == 60 && r.remaining == 40);
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), 41, &r), TOLLGATE_ERR_QUOTA_EXCEEDED);
  CHECK(r.used == 60 && r.remaining == 40); /* nothing written on failure */
  CHECK_CONTAINS(last_error(), "60 of 100");
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), UINT64_MAX, &r),
           TOLLGATE_ERR_QUOTA_EXCEEDED);
  /* A used-up quota does not switch the feature off: _has_feature answers whether it is
   * licensed; only _record_usage refuses (TOLLGATE_ERR_QUOTA_EXCEEDED). */
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), 40, &r), TOLLGATE_OK);
  CHECK(r.used == 100 && r.remaining == 0);
  CHECK_RC(tollgate_manager_record_usage(a, S("iot-bridge"), 1, &r), TOLLGATE_ERR_QUOTA_EXCEEDED);
  CHECK(tollgate_manager_has_feature(a, S("iot-bridge")));
  CHECK(tollgate_manager_has_feature_at(a, S("iot-bridge"), g_now));
  CHECK_RC(tollgate_manager_record_usage(a, S("mqtt-server"), 1, &r), TOLLGATE_ERR_NOT_METERED);
  CHECK_RC(tollgate_manager_meter(a, S("mqtt-server"), &r), TOLLGATE_ERR_NOT_METERED);
  CHECK_RC(tollgate_manager_record_usage(a, S("nope"), 1, &r), TOLLGATE_ERR_UNKNOWN_FEATURE);
  CHECK_RC(tollgate_manager_meter(a, S("iot-bridge"), &r), TOLLGATE_OK);
  CHECK(r.used == 100);

  /* The usage journal: the 100 units recorded are cut into report 1, owned by the caller. */
  char *journal = NULL;
  CHECK_RC(tollgate_manager_usage_journal(NULL, &journal), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_usage_journal(a, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK(journal == NULL);
  CHECK_RC(tollgate_manager_usage_journal(a, &journal), TOLLGATE_OK);
  CHECK(journal != NULL);
  CHECK(strncmp(journal, "# tollgate usage journal: TGUR reports, one a line, in seq order\nTGUR:",
                70) == 0);
  size_t lines = 0;
  for (const char *p = journal; *p; p++) lines += *p == '\n';
  CHECK(lines == 2);
  char *journal2 = NULL;
  CHECK_RC(tollgate_manager_usage_journal(a, &journal2), TOLLGATE_OK);
  CHECK_STR(journal2, journal); /* nothing new accrued: the same report */
  tollgate_string_free(journal2);
  tollgate_string_free(journal);
  tollgate_string_free(NULL);

  /* A request for another key while this one is installed. */
  CHECK_RC(tollgate_manager_request_usage(a, S(other_key), buf, sizeof buf, &n),
           TOLLGATE_ERR_ALREADY_ACTIVATED);

  /* Upgrade round trip: the installed license stays in force until its successor is in, and
   * is then superseded by the pending request. */
  const char *req2 = renew(a);
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && st.pending_request);
  CHECK(has(a, "mqtt-server"));
  CHECK_RC(tollgate_manager_install(a, S(ul1), &st), TOLLGATE_ERR_SUPERSEDED_REQUEST);
  char *ul2 = vendor_fulfil(req2);
  CHECK(ul2 != NULL);
  if (ul2 == NULL) return;
  CHECK_RC(tollgate_manager_install(a, S(ul2), &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && !st.pending_request);
  CHECK_RC(tollgate_manager_install(a, S(ul1), &st), TOLLGATE_ERR_SUPERSEDED_REQUEST);

  /* The state restored from an older backup: a usage license answering a newer request. */
  char state_path[600];
  snprintf(state_path, sizeof state_path, "%s/state.json", work_path("host-a"));
  size_t backup_len = 0;
  char *backup = read_file(state_path, &backup_len);
  CHECK(backup != NULL);
  const char *req3 = renew(a);
  char *ul3 = vendor_fulfil(req3);
  CHECK(ul3 != NULL);
  tollgate_manager_free(a);
  CHECK(backup != NULL && write_text_file(state_path, backup));
  free(backup);
  a = open_host("machine-a", "host-a", clock);
  CHECK_RC(tollgate_manager_install(a, S(ul3), &st), TOLLGATE_ERR_UNKNOWN_REQUEST);
  CHECK(status_of(a).state == TOLLGATE_STATE_ACTIVE);

  /* Time: the clock set back beyond the tolerance, then forward past the subscription. */
  CHECK_RC(tollgate_clock_set(clock, g_now - 7200), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_check(a), TOLLGATE_ERR_CLOCK_ROLLBACK);
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_CLOCK_ROLLBACK && st.error_code == TOLLGATE_ERR_CLOCK_ROLLBACK);
  CHECK(!has(a, "mqtt-server"));
  /* A usage request carries no trust: it may be made while the clock reads earlier than the
   * host has seen, so that a host whose clock ran ahead can recover (the vendor's signed
   * answer resets the mark). */
  CHECK_RC(tollgate_manager_request_renewal(a, buf, sizeof buf, &n), TOLLGATE_OK);
  /* Forward past the subscription: asked at that time, not read from the clock, because a
   * feature check that reads the clock raises the high-water mark, and going back to g_now
   * afterwards would be a rollback (tested in test_rollback_while_running). */
  CHECK_RC(tollgate_clock_set(clock, g_now + 400 * 86400), TOLLGATE_OK);
  CHECK(tollgate_manager_has_feature_at(a, S("mqtt-server"), g_now + 400 * 86400) &&
        !tollgate_manager_has_feature_at(a, S("support"), g_now + 400 * 86400));
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && st.active_feature_count == 2 &&
        st.warning_count >= 1);
  CHECK_RC(tollgate_clock_set(clock, g_now), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_refresh(a, &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE);

  /* Deactivate: needs the full buffer; the code can be shown again; the seat is freed. */
  n = 0;
  CHECK_RC(tollgate_manager_deactivate(a, buf, 100, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(n == MAX_ARTIFACT && has(a, "mqtt-server"));
  CHECK_RC(tollgate_manager_deactivate(a, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK(strncmp(buf, "TGDC:", 5) == 0 && n == strlen(buf));
  char code[MAX_ARTIFACT];
  snprintf(code, sizeof code, "%s", buf);
  CHECK_RC(tollgate_manager_last_deactivation_code(a, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK_STR(buf, code);
  CHECK(vendor_deactivate(code));
  st = status_of(a);
  CHECK(st.state == TOLLGATE_STATE_UNLICENSED && !st.has_license);
  CHECK(!has(a, "mqtt-server"));
  CHECK_RC(tollgate_manager_install(a, S(ul2), &st), TOLLGATE_ERR_DEACTIVATED);
  CHECK_RC(tollgate_manager_deactivate(a, buf, sizeof buf, &n), TOLLGATE_ERR_NOT_ACTIVATED);

  /* Other installations of the same machine, and another machine. */
  tollgate_manager *a2 = open_host("machine-a", "host-a2", clock);
  CHECK_RC(tollgate_manager_install(a2, S(ul3), &st), TOLLGATE_ERR_NO_PENDING_REQUEST);
  request(a2, key);
  CHECK_RC(tollgate_manager_install(a2, S(ul3), &st), TOLLGATE_ERR_WRONG_DEVICE);
  tollgate_manager *b = open_host("machine-b", "host-b", clock);
  request(b, key);
  CHECK_RC(tollgate_manager_install(b, S(ul3), &st), TOLLGATE_ERR_FINGERPRINT_MISMATCH);
  tollgate_manager_free(a2);
  tollgate_manager_free(b);

  tollgate_manager_free(a);
  tollgate_config_free(cfg_a);
  tollgate_config_free(cfg_b);
  tollgate_clock_free(clock);
  free(ul1);
  free(ul2);
  free(ul3);
}

static void test_expiry_and_limits(void) {
  puts("expiry, fingerprint and format-limit errors");
  char not_after[32];
  snprintf(not_after, sizeof not_after, "%llu", (unsigned long long)(g_now + 86400));
  char args[256];
  snprintf(args, sizeof args,
           "--feature mqtt-server --models offline --not-after %s --rollback-tolerance-secs 10",
           not_after);
  const char *key = vendor_issue(args);
  CHECK(key != NULL);
  if (key == NULL) return;
  tollgate_clock *clock = NULL;
  size_t n = 0;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  /* No warning period; the 10 s rollback tolerance is the license's (signed in the grant). */
  tollgate_config *cc = machine_config("machine-c");
  CHECK_RC(tollgate_config_set_warn_days(cc, 0), TOLLGATE_OK);
  tollgate_manager *c = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cc, S(work_path("host-c")), clock, &c), TOLLGATE_OK);
  char *ul = vendor_fulfil(request(c, key));
  tollgate_status st;
  CHECK(ul != NULL);
  CHECK_RC(tollgate_manager_install(c, S(ul), &st), TOLLGATE_OK);
  CHECK(st.valid_until == g_now + 86400);
  CHECK(st.warning_count == 0); /* expires in a day, but warn_days is 0 */
  CHECK_RC(tollgate_clock_set(clock, g_now - 20), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_check(c), TOLLGATE_ERR_CLOCK_ROLLBACK);
  CHECK_RC(tollgate_clock_set(clock, g_now), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_check(c), TOLLGATE_OK);
  tollgate_config_free(cc);
  CHECK_RC(tollgate_clock_advance(clock, 2 * 86400), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_check(c), TOLLGATE_ERR_EXPIRED);
  st = status_of(c);
  CHECK(st.state == TOLLGATE_STATE_EXPIRED && st.error_code == TOLLGATE_ERR_EXPIRED);
  CHECK(!has(c, "mqtt-server"));
  /* An expired license can still be deactivated. */
  char buf[MAX_ARTIFACT];
  CHECK_RC(tollgate_manager_deactivate(c, buf, sizeof buf, &n), TOLLGATE_OK);
  tollgate_manager_free(c);
  free(ul);

  /* No fingerprint at all: probes off and no component. */
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(vendor_host_config()), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(work_path("host-empty")), clock, &m),
           TOLLGATE_OK);
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, sizeof buf, &n),
           TOLLGATE_ERR_FINGERPRINT);
  CHECK_RC(tollgate_manager_fingerprint_json(m, buf, sizeof buf, &n), TOLLGATE_ERR_FINGERPRINT);
  CHECK_RC(tollgate_verify_usage_license(cfg, S("TGUL:x"), g_now, buf, sizeof buf, &n),
           TOLLGATE_ERR_FINGERPRINT);
  tollgate_manager_free(m);
  tollgate_config_free(cfg);

  /* A product id longer than the format allows (64 bytes). */
  char product[80];
  memset(product, 'p', 70);
  product[70] = '\0';
  const uint8_t salt[] = "salt";
  CHECK_RC(tollgate_config_new(ROOT, S(product), S("1.0"), salt, 4, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_OPERATOR, salt, 4), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_WORKLOAD, salt, 4), TOLLGATE_OK);
  /* The trust store is made for the product: the limit shows when the manager opens. */
  m = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(work_path("host-long")), clock, &m),
           TOLLGATE_ERR_LIMIT_EXCEEDED);
  CHECK(m == NULL);
  tollgate_config_free(cfg);
  tollgate_clock_free(clock);
}

/* The status as JSON (malloc'd), to compare a whole state before and after. */
static char *status_text(const tollgate_manager *m) {
  size_t n = 0;
  CHECK_RC(tollgate_manager_status_json(m, NULL, 0, &n), TOLLGATE_BUFFER_TOO_SMALL);
  char *json = malloc(n + 64);
  CHECK_RC(tollgate_manager_status_json(m, json, n + 64, &n), TOLLGATE_OK);
  return json;
}

/* Issue 11, the attack: the customer runs a vendor of their own (`tollgate vendor init` makes a
 * fresh root and signing key), mints a usage license with every feature until 2099, and puts
 * their key into the host configuration file. The root is compiled in: the file is refused,
 * the usage license is refused, and the host's state does not change. */
static void test_forged_vendor(void) {
  puts("attack: the customer's own vendor key in the JSON, and a license it signed");
  const char *mine = work_path("customer-vendor");
  json_value *v = vendor_run("--dir '%s' init", mine);
  CHECK(v != NULL);
  json_free(v);
  v = vendor_run("--dir '%s' key list", mine);
  const json_value *keys = json_get(v, "keys");
  const json_value *first =
      keys != NULL && keys->type == JSON_ARRAY && keys->count > 0 ? &keys->items[0] : NULL;
  const char *pub = json_get_string(first, "public_key");
  CHECK(pub != NULL && strlen(pub) == 64);
  char forged[1024];
  snprintf(forged, sizeof forged,
           "{\"product\":\"chariot\",\"product_version\":\"4.2.0\",\"fingerprint_salt\":\"chariot\","
           "\"vendor_keys\":[\"%s\"]}",
           pub != NULL ? pub : "");
  json_free(v);
  v = vendor_run("--dir '%s' issue --product chariot --customer Mallory --feature mqtt-server "
                 "--feature support:until=2099-12-31 --feature iot-bridge:999999999/month "
                 "--models offline --activations 99",
                 mine);
  char forged_key[64] = "";
  const char *k = json_get_string(v, "key");
  if (k != NULL && strlen(k) < sizeof forged_key) strcpy(forged_key, k);
  json_free(v);
  CHECK(forged_key[0] != '\0');

  /* 1. The file naming the customer's key is refused: nobody can believe it is used. */
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(forged), &cfg), TOLLGATE_ERR_UNTRUSTED_CONFIG);
  CHECK(cfg == NULL);
  CHECK_CONTAINS(last_error(), "vendor_keys");

  /* 2. A host with the real vendor's license, and a fresh host. */
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  const char *real_key = vendor_issue("--feature mqtt-server --models offline");
  CHECK(real_key != NULL);
  if (real_key == NULL) return;
  tollgate_manager *licensed = open_host("machine-f", "host-f", clock);
  char *ul = vendor_fulfil(request(licensed, real_key));
  tollgate_status st;
  CHECK(ul != NULL);
  CHECK_RC(tollgate_manager_install(licensed, S(ul), &st), TOLLGATE_OK);
  free(ul);
  tollgate_manager *fresh = open_host("machine-g", "host-g", clock);

  /* 3. The customer's vendor answers requests made with its own license key. */
  const char *renewal = renew(licensed);
  const char *req = request(fresh, forged_key);
  char *path = strdup(work_path("forged.tgrq"));
  char *minted[2] = {NULL, NULL};
  const char *reqs[2] = {req, renewal};
  for (int i = 0; i < 2; i++) {
    CHECK(write_text_file(path, reqs[i]));
    v = vendor_run("--dir '%s' fulfil '%s'", mine, path);
    const char *t = json_get_string(v, "usage_license");
    minted[i] = t != NULL ? strdup(t) : NULL;
    json_free(v);
  }
  free(path);
  /* The renewal names a license the customer's vendor never issued: only the fresh host's
   * request gets a usage license. */
  CHECK(minted[0] != NULL && strncmp(minted[0], "TGUL:", 5) == 0);
  CHECK(minted[1] == NULL);

  /* 4. Refused on both hosts; nothing changed. */
  char *before_fresh = status_text(fresh);
  char *before_licensed = status_text(licensed);
  memset(&st, 0, sizeof st);
  const char *forged_ul = minted[0] != NULL ? minted[0] : "";
  CHECK_RC(tollgate_manager_install(fresh, S(forged_ul), &st), TOLLGATE_ERR_KEY_NOT_CERTIFIED);
  CHECK(st.state == 0 && st.license_id == 0); /* nothing written on failure */
  CHECK_RC(tollgate_manager_install(licensed, S(forged_ul), &st),
           TOLLGATE_ERR_KEY_NOT_CERTIFIED);
  char buf[MAX_ARTIFACT];
  size_t n = 0;
  tollgate_config *vc = machine_config("machine-g");
  CHECK_RC(tollgate_verify_usage_license(vc, S(forged_ul), g_now, buf, sizeof buf, &n),
           TOLLGATE_ERR_KEY_NOT_CERTIFIED);
  tollgate_config_free(vc);
  /* The customer's own host configuration carries a certificate of their key, signed by their
   * root: it counts for nothing, the manager refuses to open with it. */
  v = vendor_run("--dir '%s' host-config --product chariot --product-version 4.2.0 --out '%s'",
                 mine, work_path("customer-host.json"));
  json_free(v);
  size_t len = 0;
  char *customer_json = read_file(work_path("customer-host.json"), &len);
  CHECK(customer_json != NULL && strstr(customer_json, "TGKC:") != NULL);
  cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, customer_json != NULL ? customer_json : "", len, &cfg),
           TOLLGATE_OK);
  free(customer_json);
  tollgate_manager *m = NULL;
  /* Signed by a root this host does not know. */
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("host-h")), &m), TOLLGATE_ERR_UNKNOWN_KEY_ID);
  CHECK(m == NULL);
  tollgate_config_free(cfg);
  char *after_fresh = status_text(fresh);
  char *after_licensed = status_text(licensed);
  CHECK_STR(after_fresh, before_fresh);
  CHECK_STR(after_licensed, before_licensed);
  CHECK(status_of(fresh).state == TOLLGATE_STATE_PENDING);
  CHECK(!has(fresh, "mqtt-server") && !has(fresh, "support"));
  CHECK(has(licensed, "mqtt-server") && !has(licensed, "support"));
  free(before_fresh);
  free(before_licensed);
  free(after_fresh);
  free(after_licensed);
  free(minted[0]);
  free(minted[1]);
  tollgate_manager_free(fresh);
  tollgate_manager_free(licensed);
  tollgate_clock_free(clock);
}

/* Issue 11 §2: a request needs a fingerprint of at least two kinds, and an ordinary host
 * refuses a floating server's usage license. */
static void test_host_policy(void) {
  puts("policy: fingerprint minimum, deployment model");
  const char *key = vendor_issue("--feature mqtt-server --models offline");
  const char *floating_key =
      vendor_issue("--feature mqtt-server --models floating --floating-seats 1");
  CHECK(key != NULL && floating_key != NULL);
  if (key == NULL || floating_key == NULL) return;
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  char buf[MAX_ARTIFACT];
  size_t n = 0;

  /* One component (an operator-supplied id): no request. */
  const uint8_t salt[] = "chariot";
  const uint8_t id[] = "operator-id-1";
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_new(ROOT, S("chariot"), S("4.2.0"), salt, 7, &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_OPERATOR, id, sizeof id - 1),
           TOLLGATE_OK);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(work_path("host-one")), clock, &m),
           TOLLGATE_OK);
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, sizeof buf, &n),
           TOLLGATE_ERR_TOO_FEW_COMPONENTS);
  CHECK(status_of(m).state == TOLLGATE_STATE_UNLICENSED);
  CHECK_RC(tollgate_manager_pending_request(m, buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);
  tollgate_manager_free(m);
  tollgate_config_free(cfg);

  /* A floating server's usage license copied to an ordinary host. */
  m = open_host("machine-fl", "host-fl", clock);
  char *ul = vendor_fulfil_as(request(m, floating_key), "floating");
  CHECK(ul != NULL);
  char *before = status_text(m);
  tollgate_status st;
  CHECK_RC(tollgate_manager_install(m, S(ul != NULL ? ul : ""), &st), TOLLGATE_ERR_WRONG_MODEL);
  char *after = status_text(m);
  CHECK_STR(after, before);
  CHECK(!has(m, "mqtt-server"));
  free(before);
  free(after);
  free(ul);
  tollgate_manager_free(m);
  tollgate_clock_free(clock);
}

/* Garbage in every text input: never a crash, never OK. */
static void test_garbage(void) {
  puts("garbage inputs");
  tollgate_config *cfg = machine_config("garbage");
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("garbage")), &m), TOLLGATE_OK);
  uint32_t x = 2463534242u;
  char text[600];
  char out[MAX_ARTIFACT];
  size_t n = 0;
  tollgate_status st;
  tollgate_config *junk = NULL;
  int ok = 0;
  for (int round = 0; round < 300; round++) {
    size_t len = (size_t)(round * 2) % sizeof text;
    for (size_t i = 0; i < len; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      /* Mostly printable, sometimes anything (NUL and invalid UTF-8 included). */
      text[i] = (char)(round % 3 == 0 ? (x & 0xff) : 0x21 + (x % 94));
    }
    if (round % 4 == 1 && len > 5) memcpy(text, "TGUL:", 5);
    ok += tollgate_manager_install(m, text, len, &st) == TOLLGATE_OK;
    ok += tollgate_verify_usage_license(cfg, text, len, g_now, out, sizeof out, &n) ==
          TOLLGATE_OK;
    ok += tollgate_manager_request_usage(m, text, len, out, sizeof out, &n) == TOLLGATE_OK;
    ok += tollgate_config_from_json(ROOT, text, len, &junk) == TOLLGATE_OK;
    ok += tollgate_manager_has_feature(m, text, len);
    tollgate_meter_reading r;
    ok += tollgate_manager_record_usage(m, text, len, 1, &r) == TOLLGATE_OK;
  }
  CHECK(ok == 0 && junk == NULL);
  CHECK(status_of(m).state == TOLLGATE_STATE_UNLICENSED);
  tollgate_manager_free(m);
  tollgate_config_free(cfg);
}

/* Feature checks and status from many threads while another thread changes the state. */
typedef struct {
  const tollgate_manager *m;
  int iterations;
  int wrong;
} reader_args;

static void *reader(void *p) {
  reader_args *a = p;
  for (int i = 0; i < a->iterations; i++) {
    if (!tollgate_manager_has_feature(a->m, S("mqtt-server"))) a->wrong++;
    if (tollgate_manager_has_feature(a->m, S("missing"))) a->wrong++;
    if (i % 1000 == 0) {
      tollgate_status st;
      char json[8192];
      size_t n = 0;
      if (tollgate_manager_status(a->m, &st) != TOLLGATE_OK ||
          st.state != TOLLGATE_STATE_ACTIVE)
        a->wrong++;
      if (tollgate_manager_status_json(a->m, json, sizeof json, &n) != TOLLGATE_OK) a->wrong++;
    }
  }
  return NULL;
}

static void test_threads(void) {
  puts("threads: concurrent feature checks, status, meters and refresh");
  const char *key = vendor_issue("--feature mqtt-server --feature msgs:1000000/day");
  CHECK(key != NULL);
  if (key == NULL) return;
  tollgate_config *cfg = machine_config("machine-t");
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("host-t")), &m), TOLLGATE_OK);
  char buf[MAX_ARTIFACT];
  size_t n = 0;
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, sizeof buf, &n), TOLLGATE_OK);
  char *ul = vendor_fulfil(buf);
  tollgate_status st;
  CHECK(ul != NULL);
  CHECK_RC(tollgate_manager_install(m, S(ul), &st), TOLLGATE_OK);
  free(ul);

  enum { READERS = 4 };
  pthread_t threads[READERS];
  reader_args args[READERS];
  for (int i = 0; i < READERS; i++) {
    args[i] = (reader_args){m, 20000, 0};
    CHECK(pthread_create(&threads[i], NULL, reader, &args[i]) == 0);
  }
  for (int i = 0; i < 20; i++) {
    tollgate_meter_reading r;
    CHECK_RC(tollgate_manager_record_usage(m, S("msgs"), 1, &r), TOLLGATE_OK);
    CHECK_RC(tollgate_manager_refresh(m, &st), TOLLGATE_OK);
  }
  for (int i = 0; i < READERS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK(args[i].wrong == 0);
  }
  tollgate_meter_reading r;
  CHECK_RC(tollgate_manager_meter(m, S("msgs"), &r), TOLLGATE_OK);
  CHECK(r.used == 20);
  tollgate_manager_free(m);
  tollgate_config_free(cfg);
}

/* Every code the C API can produce was produced by some test above. */
/* Issue 11 §4: opening with an empty state path fails before anything touches the file
 * system: the current directory gains no `.lock`. */
static void test_empty_state_path(void) {
  puts("open with an empty state path: refused, nothing created");
  char old_cwd[4096];
  CHECK(getcwd(old_cwd, sizeof old_cwd) != NULL);
  const char *cwd = work_path("empty-path-cwd");
  char cmd[700];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", cwd);
  CHECK(system(cmd) == 0);
  CHECK(chdir(cwd) == 0);
  tollgate_config *cfg = machine_config("empty-path");
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, "", 0, &m), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(m == NULL);
  CHECK_CONTAINS(last_error(), "state directory path is empty");
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  CHECK_RC(tollgate_manager_open_with_clock(cfg, "", 0, clock, &m), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(m == NULL);
  tollgate_clock_free(clock);
  tollgate_config_free(cfg);
  int entries = 0;
  DIR *d = opendir(".");
  CHECK(d != NULL);
  for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      fprintf(stderr, "unexpected file in the current directory: %s\n", e->d_name);
      entries++;
    }
  }
  if (d != NULL) closedir(d);
  CHECK(entries == 0);
  CHECK(chdir(old_cwd) == 0);
}

/* Issue 11 §2: a clock set back while the host runs closes the gate at the next feature
 * check (no refresh, no other call in between) and the status says so. */
static void test_rollback_while_running(void) {
  puts("clock set back while running: day 21 -> day 19, Support stays expired");
  const char *key = vendor_issue("--feature mqtt-server --feature support:for=20d --models offline");
  CHECK(key != NULL);
  if (key == NULL) return;
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &clock), TOLLGATE_OK);
  tollgate_manager *m = open_host("machine-rb", "host-rollback", clock);
  char *ul = vendor_fulfil(request(m, key));
  CHECK(ul != NULL);
  tollgate_status st;
  CHECK_RC(tollgate_manager_install(m, S(ul != NULL ? ul : ""), &st), TOLLGATE_OK);
  free(ul);
  CHECK(has(m, "support") && has(m, "mqtt-server"));
  CHECK_RC(tollgate_clock_set(clock, g_now + 21 * 86400), TOLLGATE_OK);
  CHECK(!has(m, "support") && has(m, "mqtt-server"));
  CHECK(status_of(m).state == TOLLGATE_STATE_ACTIVE);
  CHECK_RC(tollgate_clock_set(clock, g_now + 19 * 86400), TOLLGATE_OK);
  CHECK(!has(m, "support"));
  CHECK(!has(m, "mqtt-server"));
  st = status_of(m);
  CHECK(st.state == TOLLGATE_STATE_CLOCK_ROLLBACK && st.error_code == TOLLGATE_ERR_CLOCK_ROLLBACK);
  CHECK_RC(tollgate_manager_check(m), TOLLGATE_ERR_CLOCK_ROLLBACK);
  /* The clock corrected: licensed again (without Support). */
  CHECK_RC(tollgate_clock_set(clock, g_now + 21 * 86400), TOLLGATE_OK);
  CHECK(has(m, "mqtt-server") && !has(m, "support"));
  tollgate_manager_free(m);
  tollgate_clock_free(clock);
}

/* Issue 11 §4: a broker that opens its manager and then daemonises with fork(). In the child
 * the cached clock must move on (Support expires) and freeing the manager must be clean. The
 * parent's cache refreshes only every hour, so a child reading the cache would see the time
 * of the fork. */
static void test_fork_after_open(void) {
  puts("fork after open: the child's clock moves on, Support expires, free is clean");
  const char *key = vendor_issue("--feature mqtt-server --feature support:for=20d --models offline");
  CHECK(key != NULL);
  if (key == NULL) return;
  tollgate_clock *manual = NULL, *cached = NULL;
  CHECK_RC(tollgate_clock_new_manual(g_now, &manual), TOLLGATE_OK);
  CHECK_RC(tollgate_clock_new_cached(NULL, 1000, &cached), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_clock_new_cached(manual, 0, &cached), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_clock_new_cached(manual, 3600 * 1000, &cached), TOLLGATE_OK);
  CHECK_RC(tollgate_clock_set(cached, 1), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_clock_advance(cached, 1), TOLLGATE_ERR_INVALID_ARGUMENT);
  tollgate_manager *m = open_host("machine-fork", "host-fork", cached);
  tollgate_clock_free(cached);
  char *ul = vendor_fulfil(request(m, key));
  CHECK(ul != NULL);
  tollgate_status st;
  CHECK_RC(tollgate_manager_install(m, S(ul != NULL ? ul : ""), &st), TOLLGATE_OK);
  free(ul);
  CHECK(has(m, "support") && has(m, "mqtt-server"));

  /* A manager on the (cached) system clock, too: freed in the child. */
  tollgate_config *cfg = machine_config("machine-fork-sys");
  tollgate_manager *sys = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("host-fork-sys")), &sys), TOLLGATE_OK);
  tollgate_config_free(cfg);

  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int before = g_failures;
    CHECK_RC(tollgate_clock_set(manual, g_now + 21 * 86400), TOLLGATE_OK);
    CHECK(!has(m, "support"));
    CHECK(has(m, "mqtt-server"));
    tollgate_status cs = status_of(m);
    CHECK(cs.state == TOLLGATE_STATE_ACTIVE);
    CHECK(!tollgate_manager_has_feature(sys, S("mqtt-server")));
    CHECK(status_of(sys).state == TOLLGATE_STATE_UNLICENSED);
    tollgate_manager_free(sys);
    tollgate_manager_free(m);
    tollgate_clock_free(manual);
    char err[512];
    size_t n = 0;
    tollgate_result rc = tollgate_last_error(err, sizeof err, &n);
    bool panicked = rc == TOLLGATE_OK && strstr(err, "panic") != NULL;
    if (panicked) fprintf(stderr, "child: %s\n", err);
    CHECK(!panicked);
    _exit(g_failures == before ? 0 : 1);
  }
  int wstatus = 0;
  CHECK(waitpid(pid, &wstatus, 0) == pid);
  CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  /* The parent's clock did not move. */
  CHECK(has(m, "support"));
  tollgate_manager_free(sys);
  tollgate_manager_free(m);
  tollgate_clock_free(manual);
}

static void test_marketplace(void) {
  puts("marketplace client: arguments, metadata service unreachable");
  tollgate_marketplace *mk = NULL;
  CHECK_RC(tollgate_marketplace_new(7, S("http://127.0.0.1:1"), NULL, 0, NULL, 0, &mk),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_marketplace_new(TOLLGATE_CLOUD_AWS, S("ftp://x"), NULL, 0, NULL, 0, &mk),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_marketplace_new(TOLLGATE_CLOUD_AWS, S("http://127.0.0.1:1"), S("file:///x"),
                                    NULL, 0, &mk),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_marketplace_new(TOLLGATE_CLOUD_AWS, NULL, 0, NULL, 0, NULL, 0, &mk),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_marketplace_new(TOLLGATE_CLOUD_AWS, S("http://127.0.0.1:1"), NULL, 0, NULL,
                                    0, NULL),
           TOLLGATE_NULL_ARGUMENT);
  CHECK(mk == NULL);
  /* Nothing listens on port 1: the metadata service is unreachable, nothing is installed. */
  for (uint32_t cloud = TOLLGATE_CLOUD_AWS; cloud <= TOLLGATE_CLOUD_AZURE; cloud++) {
    CHECK_RC(tollgate_marketplace_new(cloud, S("http://127.0.0.1:1"), S("http://127.0.0.1:1"),
                                      NULL, 0, &mk),
             TOLLGATE_OK);
    tollgate_config *cfg = machine_config("marketplace");
    tollgate_manager *m = NULL;
    CHECK_RC(tollgate_manager_open(cfg, S(work_path(cloud == 1 ? "mk-aws" : "mk-azure")), &m),
             TOLLGATE_OK);
    tollgate_status st;
    memset(&st, 0xAB, sizeof st);
    tollgate_status before = st;
    CHECK_RC(tollgate_marketplace_start(mk, m, &st), TOLLGATE_ERR_METADATA_UNREACHABLE);
    CHECK(memcmp(&st, &before, sizeof st) == 0);
    CHECK_RC(tollgate_manager_status(m, &st), TOLLGATE_OK);
    CHECK(!st.has_license && st.deployment_model == TOLLGATE_MODEL_NONE);
    CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));
    CHECK_RC(tollgate_marketplace_start(NULL, m, &st), TOLLGATE_NULL_ARGUMENT);
    CHECK_RC(tollgate_marketplace_start(mk, NULL, &st), TOLLGATE_NULL_ARGUMENT);
    CHECK_RC(tollgate_marketplace_start(mk, m, NULL), TOLLGATE_NULL_ARGUMENT);
    tollgate_manager_free(m);
    tollgate_config_free(cfg);
    tollgate_marketplace_free(mk);
    mk = NULL;
  }
  tollgate_marketplace_free(NULL);
  CHECK(TOLLGATE_MODEL_MARKETPLACE == 8 && TOLLGATE_ERR_METADATA_UNREACHABLE == 260 &&
        TOLLGATE_ERR_SERVICE_IDENTITY_FORGED == 381 &&
        TOLLGATE_ERR_SERVICE_INSTANCE_MISMATCH == 385);
  CHECK_STR(tollgate_result_name(TOLLGATE_ERR_SERVICE_UNKNOWN_PRODUCT_CODE), "UnknownProductCode");
}

static void test_coverage(void) {
  puts("coverage of result codes");
  static const tollgate_result producible[] = {
      TOLLGATE_OK, TOLLGATE_NULL_ARGUMENT, TOLLGATE_INVALID_UTF8, TOLLGATE_BUFFER_TOO_SMALL,
      TOLLGATE_NOT_FOUND,
      /* 100-120: the core, through verify, install, request and open. */
      100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117,
      118, 119, 120,
      /* 124: a license signed by a key the compiled-in root did not certify. */
      124,
      /* 200-217: the runtime, except 216 (the OS random number generator failing); 230-234
       * belong to the online activation client, tested against a real service by
       * tests/test_online.c (tests/online.sh); 235, 237-239 the trust and host policy (236,
       * no root compiled in, cannot happen through the C API). */
      200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 217, 235,
      237, 238, 239,
      /* 260: the marketplace client without a metadata service. */
      260};
  for (size_t i = 0; i < sizeof producible / sizeof producible[0]; i++) {
    if (!code_seen(producible[i])) {
      fprintf(stderr, "result code %u (%s) was never produced\n", producible[i],
              tollgate_result_name(producible[i]));
    }
    CHECK(code_seen(producible[i]));
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s VECTORS_DIR  (TOLLGATE_BIN = the tollgate CLI)\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  g_now = (uint64_t)time(NULL);
  printf("libtollgate %s\n", tollgate_version());
  test_static_functions();
  if (!vendor_setup()) {
    fprintf(stderr, "cannot set up the vendor (is TOLLGATE_BIN the tollgate CLI?)\n");
    return 2;
  }
  test_config();
  test_clock();
  test_null_manager();
  test_open_failures();
  test_lifecycle();
  test_expiry_and_limits();
  test_empty_state_path();
  test_rollback_while_running();
  test_fork_after_open();
  test_forged_vendor();
  test_host_policy();
  test_garbage();
  test_threads();
  test_marketplace();
  test_inflight();
  puts("shared test vectors");
  test_vectors(argv[1]);
  test_coverage();
  printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
