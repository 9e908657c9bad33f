/* Online calls against a loopback service that accepts and never answers (issue 13): the
 * manager answers while a call waits, tollgate_online_cancel and tollgate_manager_free end
 * the call with TOLLGATE_ERR_CANCELLED, a failed activation leaves the host as it was, the
 * service's refusal code is kept, and the client's options. Synchronised with a mutex and a
 * condition variable (bounded waits), never with timing assertions. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The longest the test waits for the other side, so that a broken build fails, not hangs. */
#define BOUND_SECS 60

enum reply { HANG, REFUSE_303, REFUSE_399 };

typedef struct {
  int listener;
  enum reply reply;
  int connections; /* how many to serve */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int arrived;  /* requests read so far */
  bool release; /* set by the test: close the hung connections */
} stub;

/* Reads until the end of the request's headers and its body (content-length). */
static void read_request(int fd) {
  char buf[8192];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
    if (n <= 0) return;
    used += (size_t)n;
    buf[used] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end != NULL) {
      const char *cl = strstr(buf, "content-length:");
      size_t len = cl != NULL ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
      if (used - (size_t)(end + 4 - buf) >= len) return;
    }
    if (used == sizeof buf - 1) return;
  }
}

static void *stub_main(void *arg) {
  stub *s = arg;
  for (int i = 0; i < s->connections; i++) {
    int fd = accept(s->listener, NULL, NULL);
    if (fd < 0) return NULL;
    read_request(fd);
    pthread_mutex_lock(&s->lock);
    s->arrived++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    if (s->reply == HANG) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += BOUND_SECS;
      pthread_mutex_lock(&s->lock);
      while (!s->release) {
        if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != 0) break;
      }
      pthread_mutex_unlock(&s->lock);
    } else {
      char body[160];
      snprintf(body, sizeof body,
               "{\"error\":{\"code\":%d,\"name\":\"%s\",\"message\":\"refused by the stub\"}}",
               s->reply == REFUSE_303 ? 303 : 399,
               s->reply == REFUSE_303 ? "SeatsExhausted" : "SomethingNew");
      char resp[512];
      int n = snprintf(resp, sizeof resp,
                       "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\n"
                       "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                       strlen(body), body);
      if (write(fd, resp, (size_t)n) != n) { /* the client sees a transport error */
      }
    }
    close(fd);
  }
  return NULL;
}

/* Starts a stub serving `connections` connections; writes its URL into `url`. */
static bool stub_start(stub *s, pthread_t *thread, enum reply reply, int connections, char *url,
                       size_t url_len) {
  memset(s, 0, sizeof *s);
  s->reply = reply;
  s->connections = connections;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->changed, NULL);
  s->listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (s->listener < 0 || bind(s->listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(s->listener, 4) != 0 ||
      getsockname(s->listener, (struct sockaddr *)&addr, &len) != 0) {
    return false;
  }
  snprintf(url, url_len, "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
  return pthread_create(thread, NULL, stub_main, s) == 0;
}

/* Waits (bounded) until the stub has read `n` requests. */
static bool stub_wait_arrived(stub *s, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += BOUND_SECS;
  pthread_mutex_lock(&s->lock);
  while (s->arrived < n) {
    if (pthread_cond_timedwait(&s->changed, &s->lock, &until) != 0) break;
  }
  bool ok = s->arrived >= n;
  pthread_mutex_unlock(&s->lock);
  return ok;
}

static void stub_stop(stub *s, pthread_t thread) {
  pthread_mutex_lock(&s->lock);
  s->release = true;
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  pthread_join(thread, NULL);
  close(s->listener);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->changed);
}

static tollgate_manager *open_inflight_host(const char *dir) {
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(vendor_host_config()), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  static const char *raw[3] = {"inflight-machine", "inflight-nic", "inflight-disk"};
  static const uint8_t kinds[3] = {TOLLGATE_COMPONENT_MACHINE_ID, TOLLGATE_COMPONENT_MAC,
                                   TOLLGATE_COMPONENT_ROOT_DISK};
  for (int i = 0; i < 3; i++) {
    CHECK_RC(tollgate_config_add_component(cfg, kinds[i], (const uint8_t *)raw[i], strlen(raw[i])),
             TOLLGATE_OK);
  }
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open(cfg, S(work_path(dir)), &m), TOLLGATE_OK);
  tollgate_config_free(cfg);
  return m;
}

/* One try, a per-try timeout far beyond the test's bound: only cancelling ends a hung call. */
static tollgate_online *patient_client(const char *url) {
  tollgate_online_options opts;
  CHECK_RC(tollgate_online_options_default(&opts), TOLLGATE_OK);
  opts.attempts = 1;
  opts.timeout_ms = 600000;
  tollgate_online *o = NULL;
  CHECK_RC(tollgate_online_new_with_options(S(url), NULL, 0, &opts, &o), TOLLGATE_OK);
  return o;
}

typedef struct {
  tollgate_online *o;
  tollgate_manager *m;
  const char *key;
  tollgate_result rc;
  pthread_mutex_t lock;
  bool done;
} call_args;

static void *activate_thread(void *arg) {
  call_args *a = arg;
  tollgate_status st;
  tollgate_result rc = tollgate_online_activate(a->o, a->m, S(a->key), &st);
  pthread_mutex_lock(&a->lock);
  a->rc = rc;
  a->done = true;
  pthread_mutex_unlock(&a->lock);
  return NULL;
}

static bool call_done(call_args *a) {
  pthread_mutex_lock(&a->lock);
  bool done = a->done;
  pthread_mutex_unlock(&a->lock);
  return done;
}

static bool same_options(const tollgate_online_options *a, const tollgate_online_options *b) {
  return a->connect_timeout_ms == b->connect_timeout_ms && a->timeout_ms == b->timeout_ms &&
         a->attempts == b->attempts && a->backoff_ms == b->backoff_ms &&
         a->max_backoff_ms == b->max_backoff_ms;
}

static void test_options(void) {
  tollgate_online_options d;
  CHECK_RC(tollgate_online_options_default(&d), TOLLGATE_OK);
  CHECK(d.connect_timeout_ms == 5000 && d.timeout_ms == 20000 && d.attempts == 4 &&
        d.backoff_ms == 250 && d.max_backoff_ms == 10000);
  CHECK_RC(tollgate_online_options_default(NULL), TOLLGATE_NULL_ARGUMENT);
  tollgate_online *o = NULL;
  tollgate_online_options bad = d;
  bad.attempts = 0;
  CHECK_RC(tollgate_online_new_with_options(S("http://127.0.0.1:9"), NULL, 0, &bad, &o),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  bad = d;
  bad.timeout_ms = 0;
  CHECK_RC(tollgate_online_new_with_options(S("http://127.0.0.1:9"), NULL, 0, &bad, &o),
           TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK(o == NULL);
  tollgate_online_options set = {1500, 3000, 2, 10, 40};
  CHECK_RC(tollgate_online_new_with_options(S("http://127.0.0.1:9"), NULL, 0, &set, &o),
           TOLLGATE_OK);
  tollgate_online_options got;
  CHECK_RC(tollgate_online_options_get(o, &got), TOLLGATE_OK);
  CHECK(same_options(&got, &set));
  CHECK_RC(tollgate_online_options_get(NULL, &got), TOLLGATE_NULL_ARGUMENT);
  tollgate_online_free(o);
  o = NULL;
  CHECK_RC(tollgate_online_new_with_options(S("http://127.0.0.1:9"), NULL, 0, NULL, &o),
           TOLLGATE_OK);
  CHECK_RC(tollgate_online_options_get(o, &got), TOLLGATE_OK);
  CHECK(same_options(&got, &d));
  tollgate_online_cancel(NULL);
  tollgate_online_cancel(o); /* nothing in flight: later calls run normally */
  tollgate_online_free(o);
}

/* A call waits on a service that never answers: status, feature checks and the other
 * queries answer meanwhile; `cancel_by_free` ends it by freeing the manager, otherwise
 * tollgate_online_cancel does. Either way the call returns 240 and the state is as before. */
static void hung_call(const char *key, bool cancel_by_free) {
  const char *dir = cancel_by_free ? "inflight-free" : "inflight-cancel";
  stub s;
  pthread_t server;
  char url[64];
  CHECK(stub_start(&s, &server, HANG, 1, url, sizeof url));
  tollgate_online *o = patient_client(url);
  tollgate_manager *m = open_inflight_host(dir);
  call_args a = {o, m, key, 0, PTHREAD_MUTEX_INITIALIZER, false};
  pthread_t call;
  CHECK(pthread_create(&call, NULL, activate_thread, &a) == 0);
  CHECK(stub_wait_arrived(&s, 1));

  /* The request is at the service: the manager is not locked. */
  tollgate_status st;
  CHECK_RC(tollgate_manager_status(m, &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_PENDING);
  CHECK(!tollgate_manager_has_feature(m, S("mqtt-server")));
  char buf[TOLLGATE_MAX_ARTIFACT_LEN];
  size_t n = 0;
  CHECK_RC(tollgate_manager_pending_request(m, buf, sizeof buf, &n), TOLLGATE_OK);
  CHECK(!call_done(&a)); /* those returned while the call was still waiting */

  if (cancel_by_free) {
    tollgate_manager_free(m);
    /* `free` returned only after the call had undone its request: what the freed manager
     * left on disk is the state from before the call (read before the call's thread is
     * joined). */
    m = open_inflight_host(dir);
  } else {
    tollgate_online_cancel(o);
  }
  CHECK(pthread_join(call, NULL) == 0);
  CHECK_RC(a.rc, TOLLGATE_ERR_CANCELLED);
  CHECK_RC(tollgate_manager_status(m, &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_UNLICENSED && !st.pending_request && !st.has_license);
  CHECK_RC(tollgate_manager_pending_request(m, buf, sizeof buf, &n), TOLLGATE_NOT_FOUND);
  tollgate_manager_free(m);
  tollgate_online_free(o);
  stub_stop(&s, server);
}

static void refused(const char *key) {
  stub s;
  pthread_t server;
  char url[64];
  CHECK(stub_start(&s, &server, REFUSE_303, 1, url, sizeof url));
  tollgate_online *o = patient_client(url);
  tollgate_manager *m = open_inflight_host("inflight-refused");
  tollgate_status st;
  CHECK_RC(tollgate_online_activate(o, m, S(key), &st), TOLLGATE_ERR_SERVICE_SEATS_EXHAUSTED);
  CHECK(tollgate_last_refusal_code() == 303);
  /* The failed activation did not leave the host pending. */
  CHECK_RC(tollgate_manager_status(m, &st), TOLLGATE_OK);
  CHECK(st.state == TOLLGATE_STATE_UNLICENSED && !st.pending_request);
  tollgate_online_free(o);
  stub_stop(&s, server);

  CHECK(stub_start(&s, &server, REFUSE_399, 1, url, sizeof url));
  o = patient_client(url);
  CHECK_RC(tollgate_online_activate(o, m, S(key), &st), TOLLGATE_ERR_SERVICE_REFUSED);
  CHECK(tollgate_last_refusal_code() == 399); /* a code this version does not know */
  /* Another kind of failure resets it. */
  CHECK_RC(tollgate_online_activate(o, m, S("ENF9Y"), &st), TOLLGATE_ERR_KEY_FORMAT);
  CHECK(tollgate_last_refusal_code() == 0);
  tollgate_manager_free(m);
  tollgate_online_free(o);
  stub_stop(&s, server);
}

/* License events (tollgate_manager_watch): recorded by the callback, waited for (bounded). */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  tollgate_event seen[16];
  char messages[16][128];
  int count;
  tollgate_manager *m; /* unwatched from the callback on DEACTIVATED (re-entrancy) */
} recorder;

static void record_event(const tollgate_event *e, void *user_data) {
  recorder *r = user_data;
  if (e->kind == TOLLGATE_EVENT_DEACTIVATED) {
    tollgate_manager_unwatch(r->m); /* from the callback itself: does not wait for itself */
  }
  pthread_mutex_lock(&r->lock);
  if (r->count < 16) {
    r->seen[r->count] = *e;
    snprintf(r->messages[r->count], sizeof r->messages[0], "%.*s", (int)e->message_len,
             e->message);
    r->seen[r->count].message = NULL;
    r->count++;
  }
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

/* Waits (bounded) for the `n`-th event; returns it, or NULL. */
static const tollgate_event *nth_event(recorder *r, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += BOUND_SECS;
  pthread_mutex_lock(&r->lock);
  while (r->count < n) {
    if (pthread_cond_timedwait(&r->changed, &r->lock, &until) != 0) break;
  }
  const tollgate_event *e = r->count >= n ? &r->seen[n - 1] : NULL;
  pthread_mutex_unlock(&r->lock);
  return e;
}

static void test_events(void) {
  uint64_t t0 = (uint64_t)time(NULL);
  const uint64_t day = 86400;
  char args[128];
  snprintf(args, sizeof args, "--feature mqtt-server --not-after %llu",
           (unsigned long long)(t0 + 200 * day));
  const char *key = vendor_issue(args);
  CHECK(key != NULL);
  if (key == NULL) return;
  tollgate_clock *clock = NULL;
  CHECK_RC(tollgate_clock_new_manual(t0, &clock), TOLLGATE_OK);
  tollgate_config *cfg = NULL;
  CHECK_RC(tollgate_config_from_json(ROOT, S(vendor_host_config()), &cfg), TOLLGATE_OK);
  CHECK_RC(tollgate_config_set_probes(cfg, false), TOLLGATE_OK);
  CHECK_RC(tollgate_config_allow_component_override(cfg, true), TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MACHINE_ID,
                                         (const uint8_t *)"events-machine", 14),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_MAC,
                                         (const uint8_t *)"events-nic", 10),
           TOLLGATE_OK);
  CHECK_RC(tollgate_config_add_component(cfg, TOLLGATE_COMPONENT_ROOT_DISK,
                                         (const uint8_t *)"events-disk", 11),
           TOLLGATE_OK);
  tollgate_manager *m = NULL;
  CHECK_RC(tollgate_manager_open_with_clock(cfg, S(work_path("events")), clock, &m), TOLLGATE_OK);
  tollgate_config_free(cfg);
  if (m == NULL) return;

  recorder r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, {{0}}, 0, m};
  CHECK_RC(tollgate_manager_watch(NULL, 10, record_event, &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_watch(m, 10, NULL, &r), TOLLGATE_NULL_ARGUMENT);
  CHECK_RC(tollgate_manager_watch(m, 0, record_event, &r), TOLLGATE_ERR_INVALID_ARGUMENT);
  CHECK_RC(tollgate_manager_watch(m, 10, record_event, &r), TOLLGATE_OK);

  char buf[TOLLGATE_MAX_ARTIFACT_LEN];
  size_t n = 0;
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, sizeof buf, &n), TOLLGATE_OK);
  const tollgate_event *e = nth_event(&r, 1);
  CHECK(e != NULL && e->kind == TOLLGATE_EVENT_STATE_CHANGED &&
        e->previous == TOLLGATE_STATE_UNLICENSED && e->state == TOLLGATE_STATE_PENDING);
  char *ul = vendor_fulfil(buf);
  CHECK(ul != NULL);
  tollgate_status st;
  if (ul != NULL) CHECK_RC(tollgate_manager_install(m, S(ul), &st), TOLLGATE_OK);
  free(ul);
  e = nth_event(&r, 2);
  CHECK(e != NULL && e->kind == TOLLGATE_EVENT_INSTALLED && e->state == TOLLGATE_STATE_ACTIVE &&
        e->revision == 1 && e->activation_id > 0);

  CHECK_RC(tollgate_clock_set(clock, t0 + 180 * day), TOLLGATE_OK);
  e = nth_event(&r, 3);
  CHECK(e != NULL && e->kind == TOLLGATE_EVENT_EXPIRING_SOON);
  CHECK(strncmp(r.messages[2], "the license expires in 20 days", 30) == 0);

  CHECK_RC(tollgate_clock_set(clock, t0 + 201 * day), TOLLGATE_OK);
  e = nth_event(&r, 4);
  CHECK(e != NULL && e->kind == TOLLGATE_EVENT_LOST && e->state == TOLLGATE_STATE_EXPIRED &&
        e->previous == TOLLGATE_STATE_ACTIVE && e->error_code == TOLLGATE_ERR_EXPIRED);

  CHECK_RC(tollgate_manager_deactivate(m, buf, sizeof buf, &n), TOLLGATE_OK);
  e = nth_event(&r, 5);
  CHECK(e != NULL && e->kind == TOLLGATE_EVENT_DEACTIVATED &&
        e->state == TOLLGATE_STATE_UNLICENSED);
  /* The callback unwatched: nothing more is reported. */
  CHECK_RC(tollgate_manager_request_usage(m, S(key), buf, sizeof buf, &n), TOLLGATE_OK);
  tollgate_manager_unwatch(m); /* already stopped: nothing to do */
  pthread_mutex_lock(&r.lock);
  CHECK(r.count == 5);
  pthread_mutex_unlock(&r.lock);
  /* A watch running when the manager is freed is stopped by the free. */
  CHECK_RC(tollgate_manager_watch(m, 10, record_event, &r), TOLLGATE_OK);
  tollgate_manager_free(m);
  tollgate_clock_free(clock);
}

void test_inflight(void) {
  puts("online calls in flight: options, cancel, free, refusal codes, unchanged state");
  const char *key = vendor_issue("--feature mqtt-server --models online");
  CHECK(key != NULL);
  if (key == NULL) return;
  test_options();
  hung_call(key, false);
  hung_call(key, true);
  refused(key);
  puts("license events: watch, callback thread, re-entrancy, unwatch, free");
  test_events();
}
