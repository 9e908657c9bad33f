/*
 * A licensed C program in one file: the offline round trip and the feature checks with
 * libtollgate. Build it with pkg-config:
 *
 *   cc -o tollgate_example tollgate_example.c $(pkg-config --cflags --libs tollgate)
 *
 * The vendor's root public key is compiled in: `tollgate_vendor_root.h` is generated from the
 * vendor's 64 hex digits (`tollgate vendor export-root --format c`, or
 * `TOLLGATE_VENDOR_ROOT=<hex> bindings/c/vendor-root.sh tollgate_vendor_root.h`). The host
 * configuration file holds options only; a file that names keys is refused.
 *
 * Usage: tollgate_example HOST_CONFIG.json STATE_DIR COMMAND [ARGS]
 *   status               the license status (JSON)
 *   request KEY          make a usage request for the license key; print it for the vendor
 *   renew                make a usage request for this activation (upgrade), without the key
 *   install FILE         install the vendor's usage license from FILE
 *   check FEATURE        exit 0 when FEATURE is usable, 1 when not
 *   use FEATURE UNITS    record usage of a metered feature
 *   deactivate           remove the license; print the deactivation code for the vendor
 * With TOLLGATE_COMPONENTS="kind=value;kind=value…" the probes are off and the fingerprint is
 * made of these components (as `tollgate host --no-probes --allow-override --component
 * kind=value`): a test's escape hatch, never what a product does.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tollgate.h>
#include "tollgate_vendor_root.h"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  static char buf[65536];
  *len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[*len] = '\0';
  return buf;
}

/* Prints why a call failed: the stable code and name, and the detailed message. */
static int fail(const char *what, tollgate_result rc) {
  char detail[2048];
  size_t n = 0;
  if (tollgate_last_error(detail, sizeof detail, &n) != TOLLGATE_OK) {
    snprintf(detail, sizeof detail, "%s", tollgate_result_message(rc));
  }
  fprintf(stderr, "%s failed: error %u (%s): %s\n", what, rc, tollgate_result_name(rc), detail);
  return 1;
}

/* Adds the components of TOLLGATE_COMPONENTS, replacing the probes. */
static tollgate_result add_components(tollgate_config *cfg, const char *spec) {
  tollgate_result rc = tollgate_config_set_probes(cfg, false);
  if (rc == TOLLGATE_OK) rc = tollgate_config_allow_component_override(cfg, true);
  char *copy = strdup(spec);
  char *save = NULL;
  for (char *item = strtok_r(copy, ";", &save); item != NULL && rc == TOLLGATE_OK;
       item = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(item, '=');
    uint8_t kind = 0;
    if (eq == NULL) {
      rc = TOLLGATE_ERR_INVALID_ARGUMENT;
      break;
    }
    rc = tollgate_component_kind_from_name(item, (size_t)(eq - item), &kind);
    if (rc == TOLLGATE_OK) {
      rc = tollgate_config_add_component(cfg, kind, (const uint8_t *)eq + 1, strlen(eq + 1));
    }
  }
  free(copy);
  return rc;
}

/* Prints a text the manager returns with the size protocol: ask for the size, then fetch. */
static tollgate_result print_status(const tollgate_manager *m) {
  size_t need = 0;
  tollgate_result rc = tollgate_manager_status_json(m, NULL, 0, &need);
  if (rc != TOLLGATE_BUFFER_TOO_SMALL) return rc;
  char *buf = malloc(need + 64); /* the status may grow by a few bytes in between */
  size_t len = 0;
  rc = tollgate_manager_status_json(m, buf, need + 64, &len);
  if (rc == TOLLGATE_OK) printf("%s\n", buf);
  free(buf);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s HOST_CONFIG.json STATE_DIR status|request KEY|renew|install FILE|"
                    "check FEATURE|use FEATURE UNITS|deactivate\n", argv[0]);
    return 2;
  }
  const char *cmd = argv[3];
  size_t len = 0;
  char *json = read_file(argv[1], &len);
  if (json == NULL) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  tollgate_config *cfg = NULL;
  tollgate_result rc = tollgate_config_from_json(
      TOLLGATE_VENDOR_ROOT, sizeof TOLLGATE_VENDOR_ROOT, json, len, &cfg);
  if (rc != TOLLGATE_OK) return fail("reading the host configuration", rc);
  const char *components = getenv("TOLLGATE_COMPONENTS");
  if (components != NULL && (rc = add_components(cfg, components)) != TOLLGATE_OK) {
    tollgate_config_free(cfg);
    return fail("TOLLGATE_COMPONENTS", rc);
  }
  tollgate_manager *m = NULL;
  rc = tollgate_manager_open(cfg, argv[2], strlen(argv[2]), &m);
  tollgate_config_free(cfg); /* the manager keeps its own copy */
  if (rc != TOLLGATE_OK) return fail("opening the license state", rc);

  int exit_code = 0;
  char artifact[TOLLGATE_MAX_ARTIFACT_LEN];
  size_t n = 0;
  tollgate_status st;
  if (strcmp(cmd, "status") == 0) {
    rc = print_status(m);
  } else if (strcmp(cmd, "request") == 0 && argc == 5) {
    rc = tollgate_manager_request_usage(m, argv[4], strlen(argv[4]), artifact, sizeof artifact, &n);
    if (rc == TOLLGATE_OK) printf("%s\n", artifact);
  } else if (strcmp(cmd, "renew") == 0) {
    rc = tollgate_manager_request_renewal(m, artifact, sizeof artifact, &n);
    if (rc == TOLLGATE_OK) printf("%s\n", artifact);
  } else if (strcmp(cmd, "install") == 0 && argc == 5) {
    char *text = read_file(argv[4], &len);
    rc = text == NULL ? TOLLGATE_NOT_FOUND : tollgate_manager_install(m, text, len, &st);
    if (rc == TOLLGATE_OK) {
      printf("installed: license %llu, activation %llu, %u of %u features active\n",
             (unsigned long long)st.license_id, (unsigned long long)st.activation_id,
             st.active_feature_count, st.feature_count);
    }
  } else if (strcmp(cmd, "check") == 0 && argc == 5) {
    /* Cheap enough for every request: no I/O, no allocation, no lock. */
    bool usable = tollgate_manager_has_feature(m, argv[4], strlen(argv[4]));
    printf("%s: %s\n", argv[4], usable ? "usable" : "NOT usable");
    exit_code = usable ? 0 : 1;
  } else if (strcmp(cmd, "use") == 0 && argc == 6) {
    tollgate_meter_reading r;
    rc = tollgate_manager_record_usage(m, argv[4], strlen(argv[4]), strtoull(argv[5], NULL, 10),
                                       &r);
    if (rc == TOLLGATE_OK) {
      printf("%s: %llu of %llu used this period\n", argv[4], (unsigned long long)r.used,
             (unsigned long long)r.quota);
    }
  } else if (strcmp(cmd, "deactivate") == 0) {
    rc = tollgate_manager_deactivate(m, artifact, sizeof artifact, &n);
    if (rc == TOLLGATE_OK) printf("%s\n", artifact);
  } else {
    fprintf(stderr, "unknown command or wrong arguments: %s\n", cmd);
    exit_code = 2;
  }
  if (rc != TOLLGATE_OK) exit_code = fail(cmd, rc);
  tollgate_manager_free(m);
  return exit_code;
}
