/*
 * The floating license client of libtollgate against a real `tollgate-floating` on loopback
 * with one seat (started by tests/floating.sh): checkout -> has_feature -> release, a second
 * client refused while the seat is taken, argument checks, and the server being down.
 *
 * With CHECKOUT_TOKEN, the server runs with that checkout token: see token_tests.
 *
 * Usage: test_floating HOST_CONFIG_JSON SERVER_URL DEAD_URL [CHECKOUT_TOKEN]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "harness.h"

static tollgate_config *host_config(const char *host_json, const char *machine) {
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(host_json), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MACHINE_ID,
                                         (const uint8_t *)machine, strlen(machine)),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_WORKLOAD,
                                         (const uint8_t *)machine, strlen(machine)),
           TOLLGATE_OK);
  return cfg;
}

/* Against a server run with a checkout token: a client without it is refused (401), a client
 * with it is served. */
static int token_tests(const char *host_json, const char *url, const char *token) {
  tollgate_config *cfg = host_config(host_json, "floating-broker-t");
  tollgate_floating *rogue = NULL, *good = NULL;
  puts("floating: a server with a checkout token");
  CHECK_RC(tollgate_floating_new_with_token(cfg, S(url), S("mqtt-server"), NULL, 0,
                                            S("has space"), NULL, 0, &good),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(good == NULL);
  CHECK_RC(tollgate_floating_new(cfg, S(url), S("mqtt-server"), NULL, 0, &rogue), TOLLGATE_OK);
  CHECK_RC(tollgate_floating_checkout(rogue), TOLLGATE_ERR_SERVICE_REFUSED);
  char buf[512];
  size_t n = 0;
  CHECK_RC(tollgate_last_error(buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK(strstr(buf, "code 401, Unauthorized") != NULL);
  CHECK(tollgate_floating_lease_id(rogue) == 0);
  CHECK_RC(tollgate_floating_new_with_token(cfg, S(url), S("mqtt-server"), S("broker-t"), S(token),
                                            NULL, 0, &good),
           TOLLGATE_OK);
  CHECK_RC(tollgate_floating_checkout(good), TOLLGATE_OK);
  CHECK(tollgate_floating_has_feature(good, S("mqtt-server")));
  CHECK_RC(tollgate_floating_release(good), TOLLGATE_OK);
  tollgate_floating_free(good);
  tollgate_floating_free(rogue);
  tollgate_config_free(cfg);
  printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s HOST_CONFIG_JSON SERVER_URL DEAD_URL [CHECKOUT_TOKEN]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  size_t host_len = 0;
  char *host_json = read_file(argv[1], &host_len);
  const char *url = argv[2], *dead_url = argv[3];
  if (host_json == NULL) {
    perror(argv[1]);
    return 2;
  }
  if (argc == 5) {
    int rc = token_tests(host_json, url, argv[4]);
    free(host_json);
    return rc;
  }
  tollgate_config *cfg_a = host_config(host_json, "floating-broker-a");
  tollgate_config *cfg_b = host_config(host_json, "floating-broker-b");
  free(host_json);
  tollgate_floating *a = NULL, *b = NULL, *dead = NULL;

  puts("floating: arguments");
  CHECK_RC(tollgate_floating_new(NULL, S(url), S("mqtt-server"), NULL, 0, &a),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, NULL, 0, S("mqtt-server"), NULL, 0, &a),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S("mqtt-server"), NULL, 0, NULL),
           TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S(" , "), NULL, 0, &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S("ftp://example.com"), S("mqtt-server"), NULL, 0, &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S("mqtt-\xff"), NULL, 0, &a),
           TOLLGATE_INVALID_UTF8);
  /* A malformed URL and PEM text that holds no certificate are argument errors at _new. */
  CHECK_RC(tollgate_floating_new(cfg_a, S("http://[::1"), S("mqtt-server"), NULL, 0, &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S("http://127.0.0.1:70000"), S("mqtt-server"), NULL, 0,
                                 &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  static const char empty_pem[] = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
  static const char junk_pem[] = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S("mqtt-server"), (const uint8_t *)empty_pem,
                                 strlen(empty_pem), &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S("mqtt-server"), (const uint8_t *)junk_pem,
                                 strlen(junk_pem), &a),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(a == NULL);
  CHECK_RC(tollgate_floating_checkout(NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_floating_release(NULL), TOLLGATE_NULL_ARGUMENT);
  CHECK(!tollgate_floating_has_feature(NULL, S("mqtt-server")));
  CHECK(tollgate_floating_lease_id(NULL) == 0);

  puts("floating: options");
  {
    tollgate_floating_options d, got;
    CHECK_RC(tollgate_floating_options_default(&d), TOLLGATE_OK);
    CHECK(d.connect_timeout_ms == 2000 && d.timeout_ms == 5000 && d.retry_initial_ms == 1000 &&
          d.retry_max_ms == 30000);
    CHECK_RC(tollgate_floating_options_default(NULL), TOLLGATE_NULL_ARGUMENT);
    tollgate_floating_options bad = d;
    bad.connect_timeout_ms = 0;
    CHECK_RC(tollgate_floating_new_with_options(cfg_a, S(url), S("mqtt-server"), NULL, 0, NULL, 0,
                                                NULL, 0, &bad, &a),
             TOLLGATE_ERR_INVALID_ARGUMENT);
    bad = d;
    bad.timeout_ms = 0;
    CHECK_RC(tollgate_floating_new_with_options(cfg_a, S(url), S("mqtt-server"), NULL, 0, NULL, 0,
                                                NULL, 0, &bad, &a),
             TOLLGATE_ERR_INVALID_ARGUMENT);
    CHECK(a == NULL);
    tollgate_floating_options set = {1500, 3000, 20, 400};
    CHECK_RC(tollgate_floating_new_with_options(cfg_a, S(url), S("mqtt-server"), NULL, 0, NULL, 0,
                                                NULL, 0, &set, &a),
             TOLLGATE_OK);
    CHECK_RC(tollgate_floating_options_get(a, &got), TOLLGATE_OK);
    CHECK(got.connect_timeout_ms == 1500 && got.timeout_ms == 3000 && got.retry_initial_ms == 20 &&
          got.retry_max_ms == 400);
    CHECK_RC(tollgate_floating_options_get(NULL, &got), TOLLGATE_NULL_ARGUMENT);
    CHECK_RC(tollgate_floating_options_get(a, NULL), TOLLGATE_NULL_ARGUMENT);
    /* A client with its own options checks out and releases as any other. */
    CHECK_RC(tollgate_floating_checkout(a), TOLLGATE_OK);
    CHECK(tollgate_floating_has_feature(a, S("mqtt-server")));
    CHECK_RC(tollgate_floating_release(a), TOLLGATE_OK);
    tollgate_floating_free(a);
    a = NULL;
    CHECK_RC(tollgate_floating_new_with_options(cfg_a, S(url), S("mqtt-server"), NULL, 0, NULL, 0,
                                                NULL, 0, NULL, &a),
             TOLLGATE_OK);
    CHECK_RC(tollgate_floating_options_get(a, &got), TOLLGATE_OK);
    CHECK(memcmp(&got, &d, sizeof got) == 0);
    tollgate_floating_free(a);
    a = NULL;
  }

  puts("floating: checkout, has_feature, release");
  CHECK_RC(tollgate_floating_new(cfg_a, S(url), S("mqtt-server"), NULL, 0, &a), TOLLGATE_OK);
  CHECK(!tollgate_floating_has_feature(a, S("mqtt-server")));
  CHECK(tollgate_floating_lease_id(a) == 0);
  CHECK_RC(tollgate_floating_release(a), TOLLGATE_OK);
  CHECK_RC(tollgate_floating_checkout(a), TOLLGATE_OK);
  uint64_t lease = tollgate_floating_lease_id(a);
  CHECK(lease != 0);
  CHECK(tollgate_floating_has_feature(a, S("mqtt-server")));
  CHECK(!tollgate_floating_has_feature(a, S("support")));
  CHECK(!tollgate_floating_has_feature(a, NULL, 0));
  /* A lease already held is kept. */
  CHECK_RC(tollgate_floating_checkout(a), TOLLGATE_OK);
  CHECK(tollgate_floating_lease_id(a) == lease);

  puts("floating: a second instance on the same host is another client");
  {
    tollgate_floating *same_host = NULL;
    char long_name[130];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_RC(tollgate_floating_new_instance(cfg_a, S(url), S("mqtt-server"), S(long_name), NULL,
                                            0, &same_host),
             TOLLGATE_ERR_INVALID_ARGUMENT);
    CHECK_RC(tollgate_floating_new_instance(cfg_a, S(url), S("mqtt-server"), S("broker-2"), NULL,
                                            0, &same_host),
             TOLLGATE_OK);
    /* Its own client id: it does not take over a's lease, and the only seat is taken. */
    CHECK_RC(tollgate_floating_checkout(same_host), TOLLGATE_ERR_SERVICE_NO_SEAT);
    CHECK(tollgate_floating_lease_id(same_host) == 0);
    CHECK(tollgate_floating_lease_id(a) == lease);
    CHECK(tollgate_floating_has_feature(a, S("mqtt-server")));
    tollgate_floating_free(same_host);
  }

  puts("floating: one seat: a second client is refused");
  CHECK_RC(tollgate_floating_new(cfg_b, S(url), S("mqtt-server"), NULL, 0, &b), TOLLGATE_OK);
  /* The server's refusal arrives as its own stable code, 340. */
  CHECK_RC(tollgate_floating_checkout(b), TOLLGATE_ERR_SERVICE_NO_SEAT);
  CHECK(TOLLGATE_ERR_SERVICE_NO_SEAT == 340);
  CHECK(strcmp(tollgate_result_name(340), "NoSeat") == 0);
  CHECK(!tollgate_floating_has_feature(b, S("mqtt-server")));
  CHECK(tollgate_floating_lease_id(b) == 0);
  CHECK_RC(tollgate_floating_release(a), TOLLGATE_OK);
  CHECK(!tollgate_floating_has_feature(a, S("mqtt-server")));
  CHECK(tollgate_floating_lease_id(a) == 0);
  /* The seat is free again: the second client gets it; freeing it releases the lease. */
  CHECK_RC(tollgate_floating_checkout(b), TOLLGATE_OK);
  CHECK(tollgate_floating_has_feature(b, S("mqtt-server")));
  tollgate_floating_free(b);
  CHECK_RC(tollgate_floating_checkout(a), TOLLGATE_OK);
  CHECK(tollgate_floating_has_feature(a, S("mqtt-server")));

  puts("floating: the server is down");
  CHECK_RC(tollgate_floating_new(cfg_b, S(dead_url), S("mqtt-server"), NULL, 0, &dead),
           TOLLGATE_OK);
  CHECK_RC(tollgate_floating_checkout(dead), TOLLGATE_ERR_SERVICE_UNREACHABLE);
  CHECK(!tollgate_floating_has_feature(dead, S("mqtt-server")));
  CHECK(tollgate_floating_lease_id(dead) == 0);

  tollgate_floating_free(dead);
  tollgate_floating_free(a);
  tollgate_floating_free(NULL);
  tollgate_config_free(cfg_a);
  tollgate_config_free(cfg_b);
  printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
