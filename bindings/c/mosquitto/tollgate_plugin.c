/*
 * Tollgate licensing for the Mosquitto broker (plugin API v5, Mosquitto 2.0).
 *
 * The broker refuses client connections unless a valid license with the feature `mqtt-server`
 * is installed, enforces the license's connection limit (the quota of the metered feature
 * `mqtt-connections`), says why in the broker log, and publishes the license status as JSON on
 * the retained topic `$SYS/broker/license/status`. See README.md in this directory.
 *
 *   plugin /usr/lib/tollgate_mosquitto.so
 *   plugin_opt_config /etc/chariot/tollgate-host.json
 *   plugin_opt_state_dir /var/lib/chariot/license
 *
 * The vendor's root public key is compiled in (tollgate_vendor_root.h, generated at build time
 * from TOLLGATE_VENDOR_ROOT): the host configuration file holds options only, and a file that
 * names keys is refused, so a customer cannot make the broker trust a key of their own.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "tollgate.h"
#include "tollgate_vendor_root.h"

#define LOG_PREFIX "Tollgate: "

struct plugin {
  mosquitto_plugin_id_t *id;
  tollgate_manager *manager;
  /* Why the manager could not be opened (0 when it was). */
  tollgate_result open_error;
  char open_error_message[1024];

  const char *feature;
  const char *connections_feature;
  const char *topic;
  const char *status_file;
  long interval;
  time_t next_publish;

  /* The connection limit (0: none) and the clients admitted, counted against it. */
  uint64_t limit;
  const struct mosquitto **clients;
  size_t client_count;
  size_t client_cap;

  /* To log changes of the license state. */
  uint32_t last_state;
  bool last_usable;
};

static const char *state_name(uint32_t state) {
  static const char *names[] = {"unlicensed",      "pending",  "active",
                                "not_yet_valid",   "expired",  "refresh_overdue",
                                "fingerprint_mismatch", "clock_rollback", "invalid"};
  return state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

static const char *option(struct mosquitto_opt *opts, int count, const char *key) {
  const char *found = NULL;
  for (int i = 0; i < count; i++) {
    if (opts[i].key != NULL && strcmp(opts[i].key, key) == 0) found = opts[i].value;
  }
  return found;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    cap *= 2;
    char *bigger = realloc(buf, cap + 1);
    if (bigger == NULL) free(buf);
    buf = bigger;
  }
  fclose(f);
  if (buf != NULL) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

/* The thread's last Tollgate error message (static buffer). */
static const char *tollgate_error(tollgate_result rc) {
  static char buf[1024];
  size_t n = 0;
  if (tollgate_last_error(buf, sizeof buf, &n) != TOLLGATE_OK) {
    snprintf(buf, sizeof buf, "%s", tollgate_result_message(rc));
  }
  return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* The status                                                                                */

/* A JSON string literal of `s` into `out`. */
static void json_string(char *out, size_t cap, const char *s) {
  size_t n = 0;
  if (cap < 3) return;
  out[n++] = '"';
  for (; *s != '\0' && n + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n++] = '"';
  out[n] = '\0';
}

/* The status JSON (caller frees): the manager's, or an error document when it could not be
 * opened. */
static char *status_json(struct plugin *p) {
  if (p->manager == NULL) {
    char msg[2200];
    json_string(msg, sizeof msg, p->open_error_message);
    size_t cap = strlen(msg) + 256;
    char *out = malloc(cap);
    if (out != NULL) {
      snprintf(out, cap, "{\"state\":\"error\",\"error\":{\"code\":%u,\"name\":\"%s\",\"message\":%s}}",
               p->open_error, tollgate_result_name(p->open_error), msg);
    }
    return out;
  }
  size_t need = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    tollgate_result rc = tollgate_manager_status_json(p->manager, NULL, 0, &need);
    if (rc != TOLLGATE_BUFFER_TOO_SMALL) break;
    char *out = malloc(need + 128);
    if (out == NULL) return NULL;
    size_t len = 0;
    if (tollgate_manager_status_json(p->manager, out, need + 128, &len) == TOLLGATE_OK) return out;
    free(out);
  }
  return NULL;
}

/* Why clients are refused, for the log. */
static void refusal_reason(struct plugin *p, char *out, size_t cap) {
  if (p->manager == NULL) {
    snprintf(out, cap, "the license state could not be opened: %.900s", p->open_error_message);
    return;
  }
  tollgate_status st;
  if (tollgate_manager_status(p->manager, &st) != TOLLGATE_OK) {
    snprintf(out, cap, "the license status is unavailable");
  } else if (st.state == TOLLGATE_STATE_UNLICENSED || st.state == TOLLGATE_STATE_PENDING) {
    snprintf(out, cap, "no usage license is installed (state: %s)%s", state_name(st.state),
             st.pending_request ? "; a usage request is waiting for its usage license" : "");
  } else if (st.state != TOLLGATE_STATE_ACTIVE) {
    snprintf(out, cap, "the license is not valid (state: %s): %s", state_name(st.state),
             tollgate_result_message(st.error_code));
  } else {
    snprintf(out, cap, "the license (id %llu) does not include the feature '%s' or it expired",
             (unsigned long long)st.license_id, p->feature);
  }
}

static void write_status_file(struct plugin *p, const char *json) {
  if (p->status_file == NULL) return;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", p->status_file);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "cannot write %s: %s", tmp, strerror(errno));
    return;
  }
  bool ok = fputs(json, f) >= 0 && fputc('\n', f) != EOF;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, p->status_file) != 0) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "cannot write %s", p->status_file);
  }
}

/* Re-reads the connection limit: the quota of the metered connections feature. */
static void update_limit(struct plugin *p) {
  tollgate_meter_reading r;
  uint64_t limit = 0;
  if (p->manager != NULL &&
      tollgate_manager_meter(p->manager, p->connections_feature, strlen(p->connections_feature),
                             &r) == TOLLGATE_OK) {
    limit = r.quota;
  }
  if (limit != p->limit) {
    if (limit > 0) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "the license allows %llu concurrent clients",
                           (unsigned long long)limit);
    } else {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "the license sets no connection limit");
    }
  }
  p->limit = limit;
}

/* Logs the license state when it changes, with the reason and the status warnings. */
static void log_state(struct plugin *p, bool force, const char *json) {
  tollgate_status st;
  memset(&st, 0, sizeof st);
  bool usable = p->manager != NULL &&
                tollgate_manager_has_feature(p->manager, p->feature, strlen(p->feature));
  if (p->manager != NULL) tollgate_manager_status(p->manager, &st);
  if (!force && st.state == p->last_state && usable == p->last_usable) return;
  p->last_state = st.state;
  p->last_usable = usable;
  if (usable) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         LOG_PREFIX "licensed: license %llu, activation %llu, %u of %u features "
                                    "active; clients are accepted",
                         (unsigned long long)st.license_id, (unsigned long long)st.activation_id,
                         st.active_feature_count, st.feature_count);
  } else {
    char reason[1024];
    refusal_reason(p, reason, sizeof reason);
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "NOT licensed for '%s': %s; every client will "
                                       "be refused", p->feature, reason);
  }
  const char *w = json != NULL ? strstr(json, "\"warnings\":[") : NULL;
  if (w != NULL && w[12] != ']') {
    const char *list = w + 11; /* the '[' */
    const char *end = strchr(list, ']');
    int len = end != NULL ? (int)(end - list + 1) : 0;
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "license warnings: %.*s", len, list);
  }
}

/* Publishes the status (retained) and writes the status file. */
static void publish_status(struct plugin *p, bool force_log) {
  char *json = status_json(p);
  if (json == NULL) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "the license status is unavailable");
    return;
  }
  log_state(p, force_log, json);
  int rc = mosquitto_broker_publish_copy(NULL, p->topic, (int)strlen(json), json, 1, true, NULL);
  if (rc != MOSQ_ERR_SUCCESS) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "cannot publish on %s: %s", p->topic,
                         mosquitto_strerror(rc));
  }
  char connections[128];
  snprintf(connections, sizeof connections, "{\"connected\":%zu,\"limit\":%llu}", p->client_count,
           (unsigned long long)p->limit);
  /* Beside the status: $SYS/broker/license/status -> $SYS/broker/license/connections. */
  char topic[512];
  size_t base = strlen(p->topic);
  if (base >= 7 && strcmp(p->topic + base - 7, "/status") == 0) base -= 7;
  snprintf(topic, sizeof topic, "%.*s/connections", (int)base, p->topic);
  mosquitto_broker_publish_copy(NULL, topic, (int)strlen(connections), connections, 1, true, NULL);
  write_status_file(p, json);
  free(json);
}

/* ---------------------------------------------------------------------------------------- */
/* Events                                                                                    */

static bool admitted(struct plugin *p, const struct mosquitto *client, size_t *index) {
  for (size_t i = 0; i < p->client_count; i++) {
    if (p->clients[i] == client) {
      if (index != NULL) *index = i;
      return true;
    }
  }
  return false;
}

static int on_basic_auth(int event, void *event_data, void *userdata) {
  (void)event;
  struct plugin *p = userdata;
  struct mosquitto_evt_basic_auth *ed = event_data;
  const char *id = mosquitto_client_id(ed->client);
  if (id == NULL) id = "(no id)";
  if (p->manager == NULL ||
      !tollgate_manager_has_feature(p->manager, p->feature, strlen(p->feature))) {
    char reason[1024];
    refusal_reason(p, reason, sizeof reason);
    mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "refusing client %s: %s", id, reason);
    return MOSQ_ERR_AUTH;
  }
  if (admitted(p, ed->client, NULL)) return MOSQ_ERR_PLUGIN_DEFER;
  if (p->limit > 0 && p->client_count >= p->limit) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         LOG_PREFIX "refusing client %s: the license's connection limit of %llu "
                                    "concurrent clients is reached",
                         id, (unsigned long long)p->limit);
    return MOSQ_ERR_AUTH;
  }
  if (p->client_count == p->client_cap) {
    size_t cap = p->client_cap ? p->client_cap * 2 : 64;
    const struct mosquitto **clients = realloc(p->clients, cap * sizeof *clients);
    if (clients == NULL) return MOSQ_ERR_NOMEM;
    p->clients = clients;
    p->client_cap = cap;
  }
  p->clients[p->client_count++] = ed->client;
  /* Licensed: let the other authentication methods decide. */
  return MOSQ_ERR_PLUGIN_DEFER;
}

static int on_disconnect(int event, void *event_data, void *userdata) {
  (void)event;
  struct plugin *p = userdata;
  struct mosquitto_evt_disconnect *ed = event_data;
  size_t i;
  if (admitted(p, ed->client, &i)) p->clients[i] = p->clients[--p->client_count];
  return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata) {
  (void)event;
  (void)event_data;
  struct plugin *p = userdata;
  time_t now = time(NULL);
  if (now < p->next_publish) return MOSQ_ERR_SUCCESS;
  p->next_publish = now + p->interval;
  if (p->manager != NULL) {
    tollgate_status st;
    tollgate_result rc = tollgate_manager_refresh(p->manager, &st);
    if (rc != TOLLGATE_OK) {
      mosquitto_log_printf(MOSQ_LOG_WARNING, LOG_PREFIX "refresh failed: %s", tollgate_error(rc));
    }
  }
  update_limit(p);
  publish_status(p, false);
  return MOSQ_ERR_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* Set-up                                                                                    */

static tollgate_config *load_config(struct mosquitto_opt *opts, int count) {
  const char *path = option(opts, count, "config");
  size_t len = 0;
  char *json = path != NULL ? read_file(path, &len) : NULL;
  if (json == NULL) {
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "cannot read the host configuration "
                         "(plugin_opt_config): %s", path != NULL ? path : "not set");
    return NULL;
  }
  tollgate_config *cfg = NULL;
  tollgate_result rc = tollgate_config_from_json(
      TOLLGATE_VENDOR_ROOT, sizeof TOLLGATE_VENDOR_ROOT, json, len, &cfg);
  free(json);
  if (rc != TOLLGATE_OK) {
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "%s: %s", path, tollgate_error(rc));
    return NULL;
  }
  const char *probes = option(opts, count, "probes");
  if (probes != NULL && (strcmp(probes, "false") == 0 || strcmp(probes, "off") == 0)) {
    tollgate_config_set_probes(cfg, false);
  }
  /* plugin_opt_allow_override true: components of kinds the probes read (machine-id, mac, …)
   * may be given; they claim an identity instead of measuring it (tests, escape hatches). */
  const char *override = option(opts, count, "allow_override");
  if (override != NULL && (strcmp(override, "true") == 0 || strcmp(override, "on") == 0)) {
    tollgate_config_allow_component_override(cfg, true);
  }
  /* plugin_opt_component KIND=VALUE (repeatable): replaces the probed component of KIND. */
  for (int i = 0; i < count; i++) {
    if (opts[i].key == NULL || strcmp(opts[i].key, "component") != 0) continue;
    const char *v = opts[i].value != NULL ? opts[i].value : "";
    const char *eq = strchr(v, '=');
    uint8_t kind = 0;
    rc = eq == NULL ? TOLLGATE_ERR_INVALID_ARGUMENT
                    : tollgate_component_kind_from_name(v, (size_t)(eq - v), &kind);
    if (rc == TOLLGATE_OK) rc = tollgate_config_replace_component(cfg, kind);
    if (rc == TOLLGATE_OK) {
      rc = tollgate_config_add_component(cfg, kind, (const uint8_t *)eq + 1, strlen(eq + 1));
    }
    if (rc != TOLLGATE_OK) {
      mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "plugin_opt_component %s: use KIND=VALUE "
                           "(KIND: machine-id, dmi-product-uuid, mac, root-disk, hostname, "
                           "workload, cloud-instance, operator)", v);
      tollgate_config_free(cfg);
      return NULL;
    }
  }
  return cfg;
}

static void install_from_file(struct plugin *p, const char *path) {
  size_t len = 0;
  char *text = read_file(path, &len);
  if (text == NULL) {
    mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "no usage license to install at %s", path);
    return;
  }
  tollgate_status st;
  tollgate_result rc = tollgate_manager_install(p->manager, text, len, &st);
  free(text);
  if (rc == TOLLGATE_OK) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE, LOG_PREFIX "usage license from %s is installed "
                         "(state: %s)", path, state_name(st.state));
  } else {
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "the usage license in %s was not installed: "
                         "error %u (%s): %s", path, rc, tollgate_result_name(rc),
                         tollgate_error(rc));
  }
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions) {
  for (int i = 0; i < supported_version_count; i++) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *opts, int opt_count) {
  const char *state_dir = option(opts, opt_count, "state_dir");
  if (state_dir == NULL) {
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "plugin_opt_state_dir is required");
    return MOSQ_ERR_INVAL;
  }
  tollgate_config *cfg = load_config(opts, opt_count);
  if (cfg == NULL) return MOSQ_ERR_INVAL;

  struct plugin *p = calloc(1, sizeof *p);
  if (p == NULL) {
    tollgate_config_free(cfg);
    return MOSQ_ERR_NOMEM;
  }
  const char *v;
  p->id = identifier;
  p->feature = (v = option(opts, opt_count, "feature")) != NULL ? v : "mqtt-server";
  p->connections_feature =
      (v = option(opts, opt_count, "connections_feature")) != NULL ? v : "mqtt-connections";
  p->topic = (v = option(opts, opt_count, "status_topic")) != NULL ? v
                                                                   : "$SYS/broker/license/status";
  p->status_file = option(opts, opt_count, "status_file");
  p->interval = (v = option(opts, opt_count, "status_interval")) != NULL ? atol(v) : 60;
  if (p->interval < 1) p->interval = 60;
  p->last_state = UINT32_MAX;

  mosquitto_log_printf(MOSQ_LOG_INFO, LOG_PREFIX "libtollgate %s, license state in %s",
                       tollgate_version(), state_dir);
  tollgate_result rc = tollgate_manager_open(cfg, state_dir, strlen(state_dir), &p->manager);
  tollgate_config_free(cfg);
  if (rc != TOLLGATE_OK) {
    p->open_error = rc;
    snprintf(p->open_error_message, sizeof p->open_error_message, "%s", tollgate_error(rc));
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "cannot open the license state in %s: error %u "
                         "(%s): %s", state_dir, rc, tollgate_result_name(rc),
                         p->open_error_message);
  } else if ((v = option(opts, opt_count, "usage_license")) != NULL) {
    install_from_file(p, v);
  }
  update_limit(p);

  if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, p) != 0 ||
      mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, p) != 0 ||
      mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, p) != 0) {
    mosquitto_log_printf(MOSQ_LOG_ERR, LOG_PREFIX "cannot register the plugin's callbacks");
    tollgate_manager_free(p->manager);
    free(p);
    return MOSQ_ERR_UNKNOWN;
  }
  publish_status(p, true);
  p->next_publish = time(NULL) + p->interval;
  *userdata = p;
  return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count) {
  (void)opts;
  (void)opt_count;
  struct plugin *p = userdata;
  if (p == NULL) return MOSQ_ERR_SUCCESS;
  mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
  mosquitto_callback_unregister(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
  mosquitto_callback_unregister(p->id, MOSQ_EVT_TICK, on_tick, NULL);
  tollgate_manager_free(p->manager);
  free(p->clients);
  free(p);
  return MOSQ_ERR_SUCCESS;
}
