/*
 * The online activation client of libtollgate against a real `tollgate-server` on loopback
 * (started by tests/online.sh): activate -> has_feature -> reactivate -> deactivate, argument
 * checks, and the service being down.
 *
 * Usage: test_online HOST_CONFIG_JSON SERVICE_URL LICENSE_KEY DEAD_URL
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "harness.h"

static tollgate_manager *open_host(const char *host_json, const char *dir) {
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(host_json), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MACHINE_ID,
                                         (const uint8_t *)"online-machine", 14),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_HOSTNAME,
                                         (const uint8_t *)"online.local", 12),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MAC,
                                         (const uint8_t *)"02:42:ac:11:00:05", 17),
           TOLLGATE_OK);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path(dir)), &m), TOLLGATE_OK);
  tollgate_config_free(cfg);
  return m;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s HOST_CONFIG_JSON SERVICE_URL LICENSE_KEY DEAD_URL\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  size_t host_len = 0;
  char *host_json = read_file(argv[1], &host_len);
  const char *url = argv[2], *key = argv[3];
  if (host_json == NULL) {
    perror(argv[1]);
    return 2;
  }
  tollgate_manager *m = open_host(host_json, "online-host");
  free(host_json);
  tollgate_online *o = NULL, *dead = NULL;
  tollgate_status st;
  char buf[TOLLGATE_MAX_ARTIFACT_LEN];
  size_t n = 0;

  puts("online: arguments");
  CHECK_RC(tollgate_online_new(S("ftp://example.com"), NULL, 0, &o),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_online_new(S(url), (const uint8_t *)"not a certificate", 17, &o),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  /* PEM text that holds no certificate, and malformed URLs, are refused here, not later. */
  static const char *const no_certificate[] = {
      "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
      "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n",
      "",
  };
  for (size_t i = 0; i < sizeof no_certificate / sizeof no_certificate[0]; i++) {
    CHECK_RC(tollgate_online_new(S(url), (const uint8_t *)no_certificate[i],
                                 strlen(no_certificate[i]), &o),
             TOLLGATE_ERR_INVALID_ARGUMENT);
  }
  static const char *const bad_urls[] = {
      "http://[::1", "http://[::1/v1", "http://", "http://example.com:99999",
      "http://exa mple.com", "https://example.com/?q=1",
  };
  for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
    CHECK_RC(tollgate_online_new(S(bad_urls[i]), NULL, 0, &o), TOLLGATE_ERR_INVALID_ARGUMENT);
  }
  CHECK(o == NULL);
  CHECK_RC(tollgate_online_new(NULL, 0, NULL, 0, &o), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_online_new(S(url), NULL, 0, NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_online_new(S(url), NULL, 0, &o), TOLLGATE_OK);
  CHECK_RC(tollgate_online_activate(NULL, m, S(key), &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_online_activate(o, NULL, S(key), &st), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_online_activate(o, m, S(key), NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_online_activate(o, m, S("mqtt-\xff"), &st), TOLLGATE_INVALID_UTF8);
  CHECK_RC(tollgate_online_reactivate(o, m, &st), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK_RC(tollgate_online_deactivate(o, m, buf, sizeof buf - 1, &n), TOLLGATE_BUFFER_TOO_SMALL);
  CHECK(n == TOLLGATE_MAX_ARTIFACT_LEN);
  CHECK_RC(tollgate_online_deactivate(o, m, buf, sizeof buf, &n), TOLLGATE_ERR_NOT_ACTIVATED);
  CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));

  puts("online: activate, reactivate, deactivate");
  memset(&st, 0xab, sizeof st);
  CHECK_RC(tollgate_online_activate(o, m, S(key), &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && st.has_license);
  CHECK(st.deployment_model == TOLLGATE_MODEL_ONLINE && st.refresh_deadline != UINT64_MAX);
  CHECK(tollgate_manager_has_feature(m, S("mqtt-server")));
  CHECK(!tollgate_manager_has_feature(m, S("support")));
  uint64_t activation = st.activation_id;
  memset(&st, 0xab, sizeof st);
  CHECK_RC(tollgate_online_reactivate(o, m, &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_ACTIVE && st.activation_id == activation);
  CHECK(tollgate_manager_has_feature(m, S("mqtt-server")));
  n = 0;
  CHECK_RC(tollgate_online_deactivate(o, m, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK(n == strlen(buf) && strncmp(buf, "TGDC:", 5) == 0);
  CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));
  /* Delivering the code again counts as delivered; the seat is free for a new activation. */
  CHECK_RC(tollgate_online_send_deactivation(o, buf, n), TOLLGATE_OK);
  CHECK_RC(tollgate_online_reactivate(o, m, &st), TOLLGATE_ERR_NOT_ACTIVATED);

  puts("online: the service is down");
  CHECK_RC(tollgate_online_new(S(argv[4]), NULL, 0, &dead), TOLLGATE_OK);
  memset(&st, 0xab, sizeof st);
  tollgate_status before = st;
  CHECK_RC(tollgate_online_activate(dead, m, S(key), &st), TOLLGATE_ERR_SERVICE_UNREACHABLE);
  CHECK(memcmp(&st, &before, sizeof st) == 0);
  CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));
  /* The service is up again: the same request is answered, with the seat freed above. */
  CHECK_RC(tollgate_online_activate(o, m, S(key), &st), TOLLGATE_OK);
  CHECK(tollgate_manager_has_feature(m, S("mqtt-server")));
  CHECK_RC(tollgate_online_reactivate(dead, m, &st), TOLLGATE_ERR_SERVICE_UNREACHABLE);
  CHECK(tollgate_manager_has_feature(m, S("mqtt-server")));
  /* Deactivating while the service is down deactivates the host; the code is delivered later. */
  n = 0;
  CHECK_RC(tollgate_online_deactivate(dead, m, buf, sizeof buf, &n),
           TOLLGATE_ERR_SERVICE_UNREACHABLE);
  CHECK(n == 0);
  CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));
  CHECK_RC(tollgate_manager_last_deactivation_code(m, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK_RC(tollgate_online_send_deactivation(dead, buf, n), TOLLGATE_ERR_SERVICE_UNREACHABLE);
  /* Text that is not a deactivation code is refused before anything is sent: the dead
   * service would otherwise answer TOLLGATE_ERR_SERVICE_UNREACHABLE. */
  CHECK_RC(tollgate_online_send_deactivation(dead, S("hello")), TOLLGATE_ERR_ARMOR_PREFIX);
  CHECK_RC(tollgate_online_send_deactivation(dead, S("TGDC:x")), TOLLGATE_ERR_ARMOR_ENCODING);
  CHECK_RC(tollgate_online_send_deactivation(o, S("")), TOLLGATE_ERR_ARMOR_PREFIX);
  CHECK_RC(tollgate_online_send_deactivation(o, NULL, 0), TOLLGATE_NULL_ARGUMENT);
  char damaged[TOLLGATE_MAX_ARTIFACT_LEN];
  memcpy(damaged, buf, n + 1);
  damaged[12] = damaged[12] == 'A' ? 'B' : 'A';
  CHECK_RC(tollgate_online_send_deactivation(dead, damaged, n), TOLLGATE_ERR_ARMOR_CHECKSUM);
  CHECK_RC(tollgate_online_send_deactivation(o, damaged, n), TOLLGATE_ERR_ARMOR_CHECKSUM);
  CHECK_RC(tollgate_online_send_deactivation(o, buf, n), TOLLGATE_OK);

  tollgate_online_free(dead);
  tollgate_online_free(o);
  tollgate_online_free(NULL);
  tollgate_manager_free(m);
  printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
