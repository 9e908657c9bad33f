/*
 * The cached feature check through the C ABI: tollgate_manager_has_feature on a manager with an
 * installed license, as a broker calls it on every connection or message.
 *
 * Usage: bench_has_feature HOST_CONFIG.json STATE_DIR [KIND=VALUE ...]
 *   The state directory must hold an installed license with the feature `mqtt-server`
 *   (bench/run.sh prepares one with the tollgate CLI); KIND=VALUE are the fingerprint
 *   components it was activated with (probes are off).
 * Environment: BENCH_CALLS (default 50000000), BENCH_THREADS (default 2).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"
#include "tollgate_vendor_root.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  static char buf[65536];
  *len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[*len] = '\0';
  return buf;
}

typedef struct {
  const tollgate_manager *m;
  const char *feature;
  long calls;
  uint64_t at; /* 0: has_feature; else has_feature_at(at) */
  long hits;
  double ns;
} run;

static void *bench(void *p) {
  run *r = p;
  size_t len = strlen(r->feature);
  long hits = 0;
  double t0 = now_ns();
  if (r->at == 0) {
    for (long i = 0; i < r->calls; i++) hits += tollgate_manager_has_feature(r->m, r->feature, len);
  } else {
    for (long i = 0; i < r->calls; i++) {
      hits += tollgate_manager_has_feature_at(r->m, r->feature, len, r->at);
    }
  }
  r->ns = (now_ns() - t0) / (double)r->calls;
  r->hits = hits;
  return NULL;
}

static double measure(const tollgate_manager *m, const char *feature, long calls, uint64_t at,
                      int threads) {
  pthread_t tid[64];
  run runs[64];
  double worst = 0;
  for (int i = 0; i < threads; i++) {
    runs[i] = (run){m, feature, calls, at, 0, 0};
    if (pthread_create(&tid[i], NULL, bench, &runs[i]) != 0) exit(1);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    if (runs[i].hits != (strcmp(feature, "mqtt-server") == 0 ? calls : 0)) {
      fprintf(stderr, "unexpected result for %s\n", feature);
      exit(1);
    }
    if (runs[i].ns > worst) worst = runs[i].ns;
  }
  return worst;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOST_CONFIG.json STATE_DIR [KIND=VALUE ...]\n", argv[0]);
    return 2;
  }
  long calls = getenv("BENCH_CALLS") ? atol(getenv("BENCH_CALLS")) : 50000000L;
  int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2;
  if (threads < 1 || threads > 64) threads = 2;
  size_t len = 0;
  char *json = read_all(argv[1], &len);
  tollgate_config *cfg = NULL;
  if (json == NULL || tollgate_config_from_json(TOLLGATE_VENDOR_ROOT, sizeof TOLLGATE_VENDOR_ROOT,
                                                json, len, &cfg) != TOLLGATE_OK) {
    fprintf(stderr, "cannot read the host configuration %s\n", argv[1]);
    return 1;
  }
  tollgate_config_set_probes(cfg, false);
  tollgate_config_allow_component_override(cfg, true); /* the components are given below */
  for (int i = 3; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    uint8_t kind = 0;
    if (eq == NULL || tollgate_component_kind_from_name(argv[i], (size_t)(eq - argv[i]), &kind) != 0 ||
        tollgate_config_replace_component(cfg, kind) != 0 ||
        tollgate_config_add_component(cfg, kind, (const uint8_t *)eq + 1, strlen(eq + 1)) != 0) {
      fprintf(stderr, "bad component %s\n", argv[i]);
      return 2;
    }
  }
  tollgate_manager *m = NULL;
  tollgate_result rc = tollgate_manager_open(cfg, argv[2], strlen(argv[2]), &m);
  tollgate_config_free(cfg);
  if (rc != TOLLGATE_OK || !tollgate_manager_has_feature(m, "mqtt-server", 11)) {
    fprintf(stderr, "no usable license in %s (%s)\n", argv[2], tollgate_result_message(rc));
    return 1;
  }
  uint64_t t = (uint64_t)time(NULL);
  measure(m, "mqtt-server", calls / 10, 0, 1); /* warm up */
  printf("libtollgate %s, %ld calls per thread\n", tollgate_version(), calls);
  printf("has_feature(\"mqtt-server\")            1 thread : %6.2f ns/call\n",
         measure(m, "mqtt-server", calls, 0, 1));
  printf("has_feature_at(\"mqtt-server\", now)    1 thread : %6.2f ns/call\n",
         measure(m, "mqtt-server", calls, t, 1));
  printf("has_feature(\"missing-feature\")        1 thread : %6.2f ns/call\n",
         measure(m, "missing-feature", calls, 0, 1));
  printf("has_feature(\"mqtt-server\")            %d threads: %6.2f ns/call (slowest thread)\n",
         threads, measure(m, "mqtt-server", calls, 0, threads));
  tollgate_manager_free(m);
  return 0;
}
