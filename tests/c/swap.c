/* Configuration swaps and the event queue under the sanitizers (make test-sanitize runs
 * it under ThreadSanitizer and AddressSanitizer + LeakSanitizer): a loopback HTTP server
 * inside this program serves a new configuration version on every poll (Amplitude flags
 * and Eppo UFC, 4 flags each, every flag serving variant "v<version>") and accepts
 * analytics batches, while 8 threads evaluate through an Amplitude client (polling every
 * 10 ms, assignment and exposure tracking on, flushing every 20 ms) and an Eppo client
 * (polling every 20 ms), through allot_evaluate and the fast lane.
 *
 * Every answer must carry one version for all its flags (no torn result), each client
 * must see several versions, and the analytics endpoint must receive batches. The
 * server stops itself: it polls its socket every 100 ms and ends with the run.
 *
 * Usage: swap [SECONDS]   (default 5). Prints its counts; exits 1 on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "allot.h"

#define THREADS 8
#define FLAGS 4

static atomic_long failures;
static atomic_long evaluations;
static atomic_long served_versions;
static atomic_long analytics_batches;
static atomic_long amplitude_seen, eppo_seen; /* the highest version each client answered */
static atomic_long amplitude_changes, eppo_changes;
static atomic_int stop_evaluating;
static atomic_int stop_serving;

static void fail(const char *what, const char *detail, size_t length) {
    fprintf(stderr, "FAIL %s: %.*s\n", what, (int)(length > 300 ? 300 : length), detail ? detail : "NULL");
    atomic_fetch_add(&failures, 1);
}

/* ---- The loopback server ---- */

/* The body for a poll: every flag serves variant "v<version>". */
static size_t amplitude_body(char *out, size_t size, long version) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (int f = 0; f < FLAGS; f++) {
        n += (size_t)snprintf(out + n, size - n,
            "%s{\"key\":\"swap-%d\",\"metadata\":{\"deployed\":true,\"evaluationMode\":\"local\","
            "\"flagType\":\"experiment\",\"flagVersion\":%ld},\"segments\":[{\"metadata\":"
            "{\"segmentName\":\"All\"},\"variant\":\"v%ld\"}],\"variants\":{\"v%ld\":{\"key\":\"v%ld\","
            "\"value\":\"v%ld\"}}}", f ? "," : "", f, version, version, version, version, version);
    }
    return n + (size_t)snprintf(out + n, size - n, "]");
}

static size_t eppo_body(char *out, size_t size, long version) {
    size_t n = (size_t)snprintf(out, size,
        "{\"format\":\"SERVER\",\"createdAt\":\"2024-04-17T19:40:53.716Z\","
        "\"environment\":{\"name\":\"Swap\"},\"flags\":{");
    for (int f = 0; f < FLAGS; f++) {
        n += (size_t)snprintf(out + n, size - n,
            "%s\"swap-%d\":{\"key\":\"swap-%d\",\"enabled\":true,\"variationType\":\"STRING\","
            "\"variations\":{\"v%ld\":{\"key\":\"v%ld\",\"value\":\"v%ld\"}},\"allocations\":[{\"key\":"
            "\"all\",\"rules\":[],\"doLog\":true,\"splits\":[{\"variationKey\":\"v%ld\",\"shards\":[]}]}],"
            "\"totalShards\":10000}", f ? "," : "", f, f, version, version, version, version);
    }
    return n + (size_t)snprintf(out + n, size - n, "}}");
}

/* Reads a request's head and discards its body; returns 0 when the request is unusable. */
static int read_request(int fd, char *head, size_t size) {
    size_t n = 0;
    char *end = NULL;
    while (end == NULL) {
        if (n + 1 >= size) return 0;
        ssize_t got = recv(fd, head + n, size - 1 - n, 0);
        if (got <= 0) return 0;
        n += (size_t)got;
        head[n] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    long length = 0;
    for (char *line = strstr(head, "\r\n"); line != NULL && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) length = atol(line + 17);
    }
    long body = (long)(n - (size_t)(end + 4 - head));
    char sink[16384];
    while (body < length) {
        ssize_t got = recv(fd, sink, sizeof sink, 0);
        if (got <= 0) return 0;
        body += got;
    }
    return 1;
}

static void respond(int fd, int status, const char *body, size_t length) {
    char head[256];
    int n = snprintf(head, sizeof head,
        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
        "Connection: close\r\n\r\n", status, status == 200 ? "OK" : "Not Found", length);
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) == n) send(fd, body, length, MSG_NOSIGNAL);
}

/* One connection at a time, each answered and closed; stops when told to. */
static void *serve(void *arg) {
    int listener = *(int *)arg;
    static char head[65536];
    static char body[65536];
    while (!atomic_load(&stop_serving)) {
        struct pollfd ready = {.fd = listener, .events = POLLIN};
        if (poll(&ready, 1, 100) <= 0) continue;
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        struct timeval limit = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        if (read_request(fd, head, sizeof head)) {
            if (strncmp(head, "GET /sdk/v2/flags", 17) == 0) {
                long version = atomic_fetch_add(&served_versions, 1) + 1;
                respond(fd, 200, body, amplitude_body(body, sizeof body, version));
            } else if (strncmp(head, "GET /flag-config/v1/config", 26) == 0) {
                long version = atomic_fetch_add(&served_versions, 1) + 1;
                respond(fd, 200, body, eppo_body(body, sizeof body, version));
            } else if (strncmp(head, "POST /2/httpapi", 15) == 0) {
                atomic_fetch_add(&analytics_batches, 1);
                respond(fd, 200, "{\"code\":200}", 12);
            } else {
                respond(fd, 404, "{}", 2);
            }
        }
        close(fd);
    }
    return NULL;
}

/* ---- The evaluators ---- */

/* The one version after each `marker` in `text` (FLAGS of them), or -1 when they differ
 * (a torn result) or are not all there. */
static long one_version(const char *text, size_t length, const char *marker) {
    long version = -1;
    int found = 0;
    size_t step = strlen(marker);
    for (const char *at = text; (at = strstr(at, marker)) != NULL && at < text + length; at += step) {
        long v = atol(at + step);
        if (found++ && v != version) return -1;
        version = v;
    }
    return found == FLAGS ? version : -1;
}

/* Records that a client answered with `version`. */
static void seen(atomic_long *highest, atomic_long *changes, long version) {
    long previous = atomic_load(highest);
    while (version > previous) {
        if (atomic_compare_exchange_weak(highest, &previous, version)) {
            atomic_fetch_add(changes, 1);
            return;
        }
    }
}

static uint64_t amplitude_client, eppo_client;

static const char *EPPO_BATCH =
    "{\"assignments\":[{\"flag_key\":\"swap-0\"},{\"flag_key\":\"swap-1\"},{\"flag_key\":\"swap-2\"},"
    "{\"flag_key\":\"swap-3\"}],\"subject_key\":\"s\",\"variation_type\":\"STRING\",\"default\":\"none\"}";

static void evaluate_json(long i) {
    char request[160];
    snprintf(request, sizeof request, "{\"user\":{\"user_id\":\"u-%ld\",\"device_id\":\"d-%ld\"}}", i % 500, i % 7);
    char *answer = allot_evaluate(amplitude_client, request);
    long version = one_version(answer, strlen(answer), "\"key\":\"v");
    if (version < 0) fail("amplitude answer", answer, strlen(answer));
    else seen(&amplitude_seen, &amplitude_changes, version);
    allot_string_free(answer);

    answer = allot_evaluate(eppo_client, EPPO_BATCH);
    version = one_version(answer, strlen(answer), "\"variation_key\":\"v");
    if (version < 0) fail("eppo answer", answer, strlen(answer));
    else seen(&eppo_seen, &eppo_changes, version);
    allot_string_free(answer);
}

/* The fast lane: a compact answer's results all come from one snapshot (one version),
 * unless the snapshot was replaced meanwhile (allot_result_json answers 0). */
static void evaluate_fast(long i) {
    char user[96];
    snprintf(user, sizeof user, "{\"user_id\":\"u-%ld\"}", i % 500);
    uint8_t compact[1024];
    int64_t n = allot_evaluate_compact(amplitude_client, user, NULL, compact, sizeof compact);
    if (n != 12 + 4 * FLAGS) {
        fail("allot_evaluate_compact", n < 0 ? (const char *)compact : "length", n < 0 ? (size_t)-n : 6);
        return;
    }
    uint64_t snapshot;
    memcpy(&snapshot, compact, 8);
    char results[FLAGS * 512];
    size_t used = 0;
    for (int r = 0; r < FLAGS; r++) {
        uint32_t id;
        memcpy(&id, compact + 12 + 4 * r, 4);
        int64_t m = allot_result_json(amplitude_client, snapshot, id, (uint8_t *)results + used, 511);
        if (m == 0) return; /* replaced meanwhile: evaluate again next time */
        if (m < 0 || m >= 511) {
            fail("allot_result_json", results + used, m < 0 ? (size_t)-m : 6);
            return;
        }
        used += (size_t)m;
        results[used] = '\0';
    }
    if (one_version(results, used, "\"key\":\"v") < 0) fail("fast lane results", results, used);

    uint8_t typed[512];
    int64_t t = allot_eppo_assign(eppo_client, "swap-1", "s", NULL, 0, true, typed, sizeof typed);
    if (t <= 0 || t > (int64_t)sizeof typed || (typed[0] & 1) == 0) {
        fail("allot_eppo_assign", t < 0 ? (const char *)typed : "no variation", t < 0 ? (size_t)-t : 12);
    }
}

static void *evaluator(void *arg) {
    long thread = (long)(intptr_t)arg;
    for (long i = thread; !atomic_load(&stop_evaluating); i += THREADS) {
        if (i % 4 == 3) evaluate_fast(i);
        else evaluate_json(i);
        atomic_fetch_add(&evaluations, 1);
    }
    return NULL;
}

static uint64_t start_client(const char *config) {
    char *error = NULL;
    uint64_t client = allot_init(config, &error);
    if (client == 0) {
        fail("allot_init", error, error ? strlen(error) : 4);
        exit(1);
    }
    char *started = allot_start(client, 10000);
    if (strncmp(started, "{\"ok\":", 6) != 0) {
        fail("allot_start", started, strlen(started));
        exit(1);
    }
    allot_string_free(started);
    return client;
}

int main(int argc, char **argv) {
    long seconds = argc > 1 ? atol(argv[1]) : 5;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t size = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, size) != 0 || listen(listener, 64) != 0 ||
        getsockname(listener, (struct sockaddr *)&address, &size) != 0) {
        perror("loopback server");
        return 2;
    }
    pthread_t server;
    pthread_create(&server, NULL, serve, &listener);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(address.sin_port));

    char config[1024];
    const char *tracking = "{\"api_key\":\"analytics-key\",\"server_url\":\"%s\",\"flush_queue_size\":20,"
                           "\"flush_interval_millis\":20,\"max_queue_size\":4000}";
    char assignment[256], exposure[256];
    snprintf(assignment, sizeof assignment, tracking, url);
    snprintf(exposure, sizeof exposure, tracking, url);
    snprintf(config, sizeof config,
             "{\"provider\":\"amplitude\",\"mode\":\"local\",\"api_key\":\"server-key\",\"server_url\":\"%s\","
             "\"flag_config_polling_interval_millis\":10,\"assignment_config\":%s,\"exposure_config\":%s}",
             url, assignment, exposure);
    amplitude_client = start_client(config);
    snprintf(config, sizeof config,
             "{\"provider\":\"eppo\",\"api_key\":\"sdk-key\",\"base_url\":\"%s\",\"poll_interval_seconds\":0.02,"
             "\"poll_jitter_seconds\":0.005}", url);
    eppo_client = start_client(config);

    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, evaluator, (void *)(intptr_t)t);
    struct timespec run = {.tv_sec = seconds};
    nanosleep(&run, NULL);
    atomic_store(&stop_evaluating, 1);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);

    char *flushed = allot_flush(amplitude_client, 10000);
    if (strncmp(flushed, "{\"ok\":", 6) != 0) fail("allot_flush", flushed, strlen(flushed));
    allot_string_free(flushed);
    allot_free(amplitude_client);
    allot_free(eppo_client);
    atomic_store(&stop_serving, 1);
    pthread_join(server, NULL);
    close(listener);

    if (atomic_load(&amplitude_changes) < 3) fail("amplitude saw fewer than 3 versions", "", 0);
    if (atomic_load(&eppo_changes) < 3) fail("eppo saw fewer than 3 versions", "", 0);
    if (atomic_load(&analytics_batches) < 1) fail("no analytics batch arrived", "", 0);
    printf("swap: %ld s, evaluations: %ld, configuration versions served: %ld, seen by amplitude: %ld, "
           "by eppo: %ld, analytics batches: %ld, failures: %ld\n", seconds, atomic_load(&evaluations),
           atomic_load(&served_versions), atomic_load(&amplitude_changes), atomic_load(&eppo_changes),
           atomic_load(&analytics_batches), atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
