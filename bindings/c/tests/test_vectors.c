/*
 * The shared test vectors (tests/vectors/, see its README.md) through the C API:
 *  - trusted-usage-license cases: tollgate_verify_usage_license on the .txt, configured as the
 *    case's host (its root, the certificates and key list it was given, fingerprint from the
 *    raw identifiers of the `fingerprint` case, `now`), compared with the expected code or
 *    fields;
 *  - usage-license cases (written for a host that trusts a list of vendor keys): the same,
 *    with the reference root and the root's certificate of the reference vendor key (the
 *    `key_certificate` case) in place of the key list. The three cases about which keys a key
 *    list trusts (a rotated key, an unknown key) have no certificate to stand for them and are
 *    left to the trusted-usage-license cases;
 *  - license-key cases: tollgate_manager_request_usage on the .txt;
 *  - public-key cases: the key as a configuration's root + tollgate_manager_open on the .bin;
 *  - the fingerprint case: tollgate_manager_fingerprint_json against its digests.
 * The vendor-side artifacts (license, usage request, deactivation code) have no C API.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "harness.h"

static const char *g_dir;
/* The reference root, its certificate of the reference vendor key (text) and that key. */
static uint8_t g_root[32];
static char *g_reference_certificate;
static const char *g_reference_key;

static char *vector_file(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  char *text = read_file(path, len);
  if (text == NULL) fprintf(stderr, "cannot read %s\n", path);
  return text;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex) / 2;
  if (n > cap) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned b;
    if (sscanf(hex + 2 * i, "%2x", &b) != 1) return 0;
    out[i] = (uint8_t)b;
  }
  return n;
}

/* The reference host: raw identifiers (kind, bytes), the salt and the expected digests. */
typedef struct {
  uint8_t salt[64];
  size_t salt_len;
  size_t count;
  uint8_t kinds[16];
  uint8_t raw[16][128];
  size_t raw_len[16];
  char digests[16][17];
} reference_host;

static bool load_reference(const json_value *cases, reference_host *ref) {
  memset(ref, 0, sizeof *ref);
  for (size_t i = 0; i < cases->count; i++) {
    const json_value *c = &cases->items[i];
    const char *artifact = json_get_string(c, "artifact");
    if (artifact == NULL || strcmp(artifact, "fingerprint") != 0) continue;
    const json_value *inputs = json_get(c, "inputs");
    const json_value *comps = json_get(inputs, "components");
    const json_value *digests = json_get(json_get(json_get(c, "expect"), "fields"), "components");
    const char *salt = json_get_string(inputs, "salt");
    if (comps == NULL || digests == NULL || salt == NULL || comps->count > 16) return false;
    ref->salt_len = unhex(salt, ref->salt, sizeof ref->salt);
    ref->count = comps->count;
    for (size_t k = 0; k < comps->count; k++) {
      const json_value *kind = json_get(&comps->items[k], "kind");
      const char *raw = json_get_string(&comps->items[k], "raw");
      if (kind == NULL || raw == NULL) return false;
      ref->kinds[k] = (uint8_t)kind->uint;
      ref->raw_len[k] = unhex(raw, ref->raw[k], sizeof ref->raw[k]);
    }
    /* The expected digests are sorted by kind, as are the inputs of the reference host. */
    for (size_t k = 0; k < digests->count && k < 16; k++) {
      const json_value *kind = json_get(&digests->items[k], "kind");
      const char *digest = json_get_string(&digests->items[k], "digest");
      for (size_t r = 0; r < ref->count; r++) {
        if (kind != NULL && digest != NULL && ref->kinds[r] == kind->uint) {
          snprintf(ref->digests[r], sizeof ref->digests[r], "%s", digest);
        }
      }
    }
    return ref->salt_len > 0;
  }
  return false;
}

/* The armored text of the artifact whose bytes are `hex` (core/SPEC.md §3): PREFIX ":"
 * base64url(bytes || CRC-32(bytes) little-endian), no padding. The caller frees it. */
static char *armor(const char *prefix, const char *hex) {
  size_t n = strlen(hex) / 2;
  uint8_t *bytes = malloc(n + 4);
  if (bytes == NULL || unhex(hex, bytes, n) != n) {
    free(bytes);
    return NULL;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= bytes[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xFFFFFFFFu;
  for (int k = 0; k < 4; k++) bytes[n + (size_t)k] = (uint8_t)(crc >> (8 * k));
  n += 4;
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t plen = strlen(prefix);
  char *out = malloc(plen + 1 + (n * 4 + 2) / 3 + 1);
  if (out == NULL) {
    free(bytes);
    return NULL;
  }
  size_t o = (size_t)sprintf(out, "%s:", prefix);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)bytes[i] << 16;
    if (i + 1 < n) v |= (uint32_t)bytes[i + 1] << 8;
    if (i + 2 < n) v |= bytes[i + 2];
    out[o++] = abc[(v >> 18) & 63];
    out[o++] = abc[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = abc[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = abc[v & 63];
  }
  out[o] = '\0';
  free(bytes);
  return out;
}

/* The reference root and certificate, from the `key_certificate` case. */
static bool load_trust(const json_value *cases) {
  for (size_t i = 0; i < cases->count; i++) {
    const json_value *c = &cases->items[i];
    const char *name = json_get_string(c, "name");
    if (name == NULL || strcmp(name, "key_certificate") != 0) continue;
    const char *root = json_get_string(json_get(c, "inputs"), "root_public_key");
    size_t len = 0;
    g_reference_certificate = vector_file(json_get_string(c, "text"), &len);
    g_reference_key =
        json_get_string(json_get(json_get(c, "expect"), "fields"), "public_key");
    return root != NULL && unhex(root, g_root, sizeof g_root) == 32 &&
           g_reference_certificate != NULL && g_reference_key != NULL;
  }
  return false;
}

/*
 * A configuration for the case's host. The host's fingerprint is given as digests; the raw
 * identifiers are known only for the reference host's. A host component whose digest is not
 * the reference one cannot match the license either way, so leaving it out gives the same
 * match (matched / licensed / required) as the case describes.
 */
static tollgate_config *case_config(const json_value *inputs, const reference_host *ref) {
  const char *product = json_get_string(inputs, "product");
  const char *root_hex = json_get_string(inputs, "root_public_key");
  const json_value *host = json_get(inputs, "host_fingerprint");
  tollgate_config *cfg = NULL;
  uint8_t root[32];
  if (product == NULL || host == NULL) return NULL;
  if (root_hex != NULL) {
    if (unhex(root_hex, root, sizeof root) != 32) return NULL;
  } else {
    memcpy(root, g_root, sizeof root);
  }
  CHECK_RC(tollgate_config_new(root, sizeof root, (const char *)product, strlen(product),
                               S("4.2.0"), ref->salt, ref->salt_len, &cfg),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  if (root_hex == NULL) {
    CHECK_RC(tollgate_config_add_key_certificate(cfg, S(g_reference_certificate)), TOLLGATE_OK);
  }
  const json_value *certs = json_get(inputs, "certificates");
  for (size_t i = 0; certs != NULL && i < certs->count; i++) {
    const char *hex = json_string(&certs->items[i]);
    char *text = hex != NULL ? armor("TGKC", hex) : NULL;
    CHECK(text != NULL);
    if (text != NULL) CHECK_RC(tollgate_config_add_key_certificate(cfg, S(text)), TOLLGATE_OK);
    free(text);
  }
  const char *list = json_get_string(inputs, "key_list");
  if (list != NULL) {
    char *text = armor("TGKL", list);
    CHECK(text != NULL);
    if (text != NULL) CHECK_RC(tollgate_config_set_key_list(cfg, S(text)), TOLLGATE_OK);
    free(text);
  }
  for (size_t i = 0; i < host->count; i++) {
    const json_value *kind = json_get(&host->items[i], "kind");
    const char *digest = json_get_string(&host->items[i], "digest");
    for (size_t r = 0; r < ref->count; r++) {
      if (kind != NULL && digest != NULL && ref->kinds[r] == kind->uint &&
          strcmp(ref->digests[r], digest) == 0) {
        CHECK_RC(tollgate_config_add_component(cfg, ref->kinds[r], ref->raw[r], ref->raw_len[r]),
                 TOLLGATE_OK);
      }
    }
  }
  return cfg;
}

static uint64_t get_uint(const json_value *obj, const char *key) {
  const json_value *v = json_get(obj, key);
  return v != NULL && v->is_uint ? v->uint : UINT64_MAX;
}

/* Compares the verified license (our JSON) with the case's expected fields. */
static void compare_fields(const char *name, const json_value *fields, const char *ours) {
  json_value *got = json_parse(S(ours));
  CHECK(got != NULL);
  if (got == NULL) return;
  const json_value *terms = json_get(fields, "terms");
  const json_value *grant = json_get(terms, "grant");
  bool ok = get_uint(got, "license_id") == get_uint(grant, "license_id") &&
            get_uint(got, "activation_id") == get_uint(terms, "activation_id") &&
            get_uint(got, "revision") == get_uint(grant, "revision");
  const char *key_id = json_get_string(fields, "key_id");
  const char *our_key_id = json_get_string(got, "vendor_key_id");
  ok = ok && key_id != NULL && our_key_id != NULL && strcmp(key_id, our_key_id) == 0;
  const json_value *fm = json_get(fields, "fingerprint_match");
  const json_value *our_fm = json_get(got, "fingerprint");
  ok = ok && get_uint(fm, "matched") == get_uint(our_fm, "matched") &&
       get_uint(fm, "licensed") == get_uint(our_fm, "licensed") &&
       get_uint(fm, "required") == get_uint(our_fm, "required");
  /* active_features: exactly the features we report active, in license order. */
  const json_value *active = json_get(fields, "active_features");
  const json_value *features = json_get(got, "features");
  size_t a = 0;
  for (size_t i = 0; ok && features != NULL && i < features->count; i++) {
    const json_value *is_active = json_get(&features->items[i], "active");
    if (is_active == NULL || !is_active->boolean) continue;
    const char *fname = json_get_string(&features->items[i], "name");
    ok = active != NULL && a < active->count && fname != NULL &&
         strcmp(json_string(&active->items[a]), fname) == 0;
    a++;
  }
  ok = ok && active != NULL && a == active->count;
  if (!ok) fprintf(stderr, "vector %s: fields differ; ours: %s\n", name, ours);
  CHECK(ok);
  json_free(got);
}

static tollgate_result expected_code(const json_value *c) {
  const json_value *expect = json_get(c, "expect");
  const char *result = json_get_string(expect, "result");
  if (result != NULL && strcmp(result, "ok") == 0) return TOLLGATE_OK;
  return (tollgate_result)get_uint(expect, "code");
}

static int g_cases;

/* A key-list case (usage-license) that no certificate can stand for: its signer is not the
 * reference key, or it is about a key missing from the list. */
static bool about_the_key_list(const json_value *c) {
  const json_value *inputs = json_get(c, "inputs");
  if (json_get(inputs, "vendor_public_keys") == NULL) return false;
  const json_value *expect = json_get(c, "expect");
  const char *error = json_get_string(expect, "error");
  if (error != NULL) return strcmp(error, "UnknownKeyId") == 0;
  const char *key_id = json_get_string(json_get(expect, "fields"), "key_id");
  return key_id == NULL || strcmp(key_id, "35158a60bf49f6a4") != 0;
}

static int g_skipped;

static void usage_license_case(const json_value *c, const reference_host *ref) {
  const char *name = json_get_string(c, "name");
  const char *file = json_get_string(c, "text");
  const json_value *inputs = json_get(c, "inputs");
  if (file == NULL) return; /* binary-only: the C API takes the text form */
  if (about_the_key_list(c)) {
    g_skipped++;
    return;
  }
  size_t len = 0;
  char *text = vector_file(file, &len);
  tollgate_config *cfg = case_config(inputs, ref);
  CHECK(text != NULL && cfg != NULL);
  if (text != NULL && cfg != NULL) {
    char out[8192];
    size_t n = 0;
    tollgate_result want = expected_code(c);
    tollgate_result got =
        tollgate_verify_usage_license(cfg, text, len, get_uint(inputs, "now"), out, sizeof out, &n);
    if (got != want) fprintf(stderr, "vector %s:\n", name);
    CHECK_RC(got, want);
    if (got == TOLLGATE_OK && want == TOLLGATE_OK) {
      CHECK(n == strlen(out));
      compare_fields(name, json_get(json_get(c, "expect"), "fields"), out);
    }
    g_cases++;
  }
  free(text);
  tollgate_config_free(cfg);
}

static tollgate_config *reference_config(const reference_host *ref) {
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_new(g_root, sizeof g_root, S("chariot"), S("4.2.0"), ref->salt,
                               ref->salt_len, &cfg),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_key_certificate(cfg, S(g_reference_certificate)), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  for (size_t r = 0; r < ref->count; r++) {
    CHECK_RC(tollgate_config_add_component(cfg, ref->kinds[r], ref->raw[r], ref->raw_len[r]),
             TOLLGATE_OK);
  }
  return cfg;
}

static void license_key_case(const json_value *c, tollgate_manager *m) {
  const char *name = json_get_string(c, "name");
  size_t len = 0;
  char *text = vector_file(json_get_string(c, "text"), &len);
  if (text == NULL) return;
  char buf[TOLLGATE_MAX_ARTIFACT_LEN];
  size_t n = 0;
  tollgate_result want = expected_code(c);
  tollgate_result got = tollgate_manager_request_usage(m, text, len, buf, sizeof buf, &n);
  if (got != want) fprintf(stderr, "vector %s:\n", name);
  CHECK_RC(got, want);
  if (got == TOLLGATE_OK) CHECK(strncmp(buf, "TGRQ:", 5) == 0 && n == strlen(buf));
  g_cases++;
  free(text);
}

static void public_key_case(const json_value *c, const reference_host *ref, int index) {
  const char *name = json_get_string(c, "name");
  size_t len = 0;
  char *key = vector_file(json_get_string(c, "binary"), &len);
  if (key == NULL) return;
  /* The key as a root: a weak or invalid key is refused when a manager opens. */
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_new((const uint8_t *)key, len, S("chariot"), S("4.2.0"), ref->salt,
                               ref->salt_len, &cfg),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  char dir[64];
  snprintf(dir, sizeof dir, "vectors-public-key-%d", index);
  const char *path = work_path(dir);
  tollgate_manager *m = NULL;
  tollgate_result want = expected_code(c);
  tollgate_result got = tollgate_manager_open(cfg, S(path), &m);
  if (got != want) fprintf(stderr, "vector %s:\n", name);
  CHECK_RC(got, want);
  CHECK((got == TOLLGATE_OK) == (m != NULL));
  tollgate_manager_free(m);
  tollgate_config_free(cfg);
  free(key);
  g_cases++;
}

static void fingerprint_case(const reference_host *ref) {
  tollgate_config *cfg = reference_config(ref);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("vectors-fingerprint")), &m), TOLLGATE_OK);
  char out[4096];
  size_t n = 0;
  CHECK_RC(tollgate_manager_fingerprint_json(m, out, sizeof out, &n), TOLLGATE_OK);
  for (size_t r = 0; r < ref->count; r++) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"kind_code\":%u,\"digest\":\"%s\"", ref->kinds[r],
             ref->digests[r]);
    if (strstr(out, needle) == NULL) fprintf(stderr, "missing %s in %s\n", needle, out);
    CHECK(strstr(out, needle) != NULL);
  }
  tollgate_manager_free(m);
  tollgate_config_free(cfg);
  g_cases++;
}

void test_vectors(const char *vectors_dir) {
  g_dir = vectors_dir;
  size_t len = 0;
  char *text = vector_file("manifest.json", &len);
  json_value *manifest = text != NULL ? json_parse(text, len) : NULL;
  const json_value *cases = json_get(manifest, "cases");
  CHECK(cases != NULL && cases->type == JSON_ARRAY);
  reference_host ref;
  CHECK(cases != NULL && load_reference(cases, &ref));
  CHECK(cases != NULL && load_trust(cases));
  if (cases == NULL || ref.count == 0 || g_reference_certificate == NULL) {
    json_free(manifest);
    free(text);
    return;
  }
  /* The manifest's error table is the one the C API reports. */
  const json_value *errors = json_get(manifest, "errors");
  for (size_t i = 0; errors != NULL && i < errors->count; i++) {
    const char *name = json_get_string(&errors->items[i], "name");
    tollgate_result code = (tollgate_result)get_uint(&errors->items[i], "code");
    CHECK(name != NULL && strcmp(tollgate_result_name(code), name) == 0);
  }
  tollgate_config *cfg = reference_config(&ref);
  tollgate_manager *keys = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path("vectors-license-keys")), &keys), TOLLGATE_OK);
  int public_keys = 0;
  for (size_t i = 0; i < cases->count; i++) {
    const json_value *c = &cases->items[i];
    const char *artifact = json_get_string(c, "artifact");
    if (artifact == NULL) continue;
    if (strcmp(artifact, "usage-license") == 0 || strcmp(artifact, "trusted-usage-license") == 0) {
      usage_license_case(c, &ref);
    } else if (strcmp(artifact, "license-key") == 0) {
      license_key_case(c, keys);
    } else if (strcmp(artifact, "public-key") == 0) {
      public_key_case(c, &ref, public_keys++);
    } else if (strcmp(artifact, "fingerprint") == 0) {
      fingerprint_case(&ref);
    }
  }
  printf("  %d vector cases run through the C API (%d about key lists left to the trust cases)\n",
         g_cases, g_skipped);
  CHECK(g_cases >= 60 && g_skipped == 3);
  tollgate_manager_free(keys);
  tollgate_config_free(cfg);
  json_free(manifest);
  free(text);
  free(g_reference_certificate);
  g_reference_certificate = NULL;
}
