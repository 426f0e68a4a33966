/* Stress program for the sanitizers (make test-sanitize runs it under AddressSanitizer +
 * LeakSanitizer and under valgrind memcheck): init/evaluate/free cycles for both providers,
 * bad input (NULL, invalid UTF-8, invalid JSON, oversized), stale handles, and 8 threads
 * evaluating while another thread frees the client they use and replaces it.
 *
 * Usage: stress AMPLITUDE_FLAGS.json EPPO_UFC.json [CYCLES [REPLACEMENTS]]
 * Prints its counts; exits 1 if any answer is not what the contract says. */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot.h"

#define THREADS 8
#define SLOTS 4

static atomic_long failures;
static atomic_long evaluations;
static atomic_long stale_answers;

static void fail(const char *what, const char *answer) {
    fprintf(stderr, "FAIL %s: %.300s\n", what, answer ? answer : "NULL");
    atomic_fetch_add(&failures, 1);
}

/* Frees an answer after checking it starts with `prefix`. */
static void expect(const char *what, char *answer, const char *prefix) {
    if (answer == NULL || strncmp(answer, prefix, strlen(prefix)) != 0) fail(what, answer);
    allot_string_free(answer);
}

static void expect_code(const char *what, char *answer, const char *code) {
    char needle[64];
    snprintf(needle, sizeof needle, "{\"error\":{\"code\":\"%s\"", code);
    expect(what, answer, needle);
}

static char *read_file(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        perror(path);
        exit(2);
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, file) != (size_t)size) exit(2);
    text[size] = '\0';
    fclose(file);
    return text;
}

static char *amplitude_config;
static char *eppo_config;

static const char *AMPLITUDE_REQUEST =
    "{\"user\":{\"user_id\":\"ada@example.com\",\"device_id\":\"d-1\",\"country\":\"United Kingdom\","
    "\"user_properties\":{\"plan\":\"enterprise\"}},\"tracks_assignment\":true,\"tracks_exposure\":true}";
static const char *EPPO_REQUEST =
    "{\"flag_key\":\"numeric_flag\",\"subject_key\":\"alice\",\"subject_attributes\":"
    "{\"email\":\"alice@example.com\",\"country\":\"US\"},\"variation_type\":\"NUMERIC\",\"default\":0,\"details\":true}";
static const char *EPPO_BATCH =
    "{\"assignments\":[{\"flag_key\":\"kill-switch\",\"variation_type\":\"BOOLEAN\",\"default\":false},"
    "{\"flag_key\":\"regex-flag\",\"variation_type\":\"STRING\",\"default\":\"none\"},"
    "{\"flag_key\":\"no-such-flag\",\"variation_type\":\"STRING\",\"default\":\"none\"}],"
    "\"subject_key\":\"bob\",\"subject_attributes\":{\"email\":\"bob@example.com\",\"age\":40}}";

static uint64_t init_ok(const char *config) {
    char *error = NULL;
    uint64_t client = allot_init(config, &error);
    if (client == 0 || error != NULL) {
        fail("allot_init", error);
        allot_string_free(error);
        exit(1);
    }
    expect("allot_start", allot_start(client, 1000), "{\"ok\":");
    return client;
}

/* One client of each kind: created, used, freed. */
static void cycle(int i) {
    uint64_t amplitude = init_ok(amplitude_config);
    expect("amplitude evaluate", allot_evaluate(amplitude, AMPLITUDE_REQUEST), "{\"ok\":{\"variants\":{\"");
    expect("amplitude status", allot_status(amplitude), "{\"ok\":");
    if (i % 4 == 0) expect("flush", allot_flush(amplitude, 0), "{");
    allot_free(amplitude);
    expect_code("stale amplitude handle", allot_evaluate(amplitude, AMPLITUDE_REQUEST), "unknown_handle");

    uint64_t eppo = init_ok(eppo_config);
    expect("eppo evaluate", allot_evaluate(eppo, EPPO_REQUEST), "{\"ok\":{\"value\":");
    expect("eppo batch", allot_evaluate(eppo, EPPO_BATCH), "{\"ok\":{\"assignments\":[");
    expect_code("eppo fetch", allot_fetch(eppo, EPPO_REQUEST), "unsupported");
    allot_free(eppo);
    expect_code("stale eppo handle", allot_status(eppo), "unknown_handle");
    atomic_fetch_add(&evaluations, 3);
}

/* Every kind of bad input the header documents. */
static void bad_inputs(uint64_t amplitude, uint64_t eppo) {
    char *error = NULL;
    if (allot_init(NULL, &error) != 0) fail("init(NULL) succeeded", NULL);
    expect_code("init(NULL)", error, "invalid_argument");
    if (allot_init("{\"provider\":\"amplitude\",\"api_key\":\"\xff\"}", &error) != 0) fail("init(bad UTF-8)", NULL);
    expect_code("init(bad UTF-8)", error, "invalid_utf8");
    if (allot_init("{\"provider\":", &error) != 0) fail("init(bad JSON)", NULL);
    expect_code("init(bad JSON)", error, "invalid_json");
    if (allot_init("{\"provider\":\"eppo\"}", NULL) != 0) fail("init without a key", NULL);

    size_t big = ALLOT_MAX_REQUEST_BYTES + 1;
    char *oversized = malloc(big + 1);
    memset(oversized, ' ', big);
    oversized[0] = '{';
    oversized[big - 1] = '}';
    oversized[big] = '\0';
    expect_code("oversized amplitude request", allot_evaluate(amplitude, oversized), "input_too_large");
    expect_code("oversized eppo request", allot_evaluate(eppo, oversized), "input_too_large");
    expect_code("oversized murmur3", allot_murmur3(oversized), "input_too_large");
    expect_code("oversized cookie", allot_cookie_parse(oversized, true), "input_too_large");
    free(oversized);

    const uint64_t clients[2] = {amplitude, eppo};
    for (int c = 0; c < 2; c++) {
        expect_code("NULL request", allot_evaluate(clients[c], NULL), "invalid_argument");
        expect_code("bad UTF-8 request", allot_evaluate(clients[c], "{\"user\":\"\xc3\x28\"}"), "invalid_utf8");
        expect_code("bad JSON request", allot_evaluate(clients[c], "{"), "invalid_json");
        expect("wrong-shape request", allot_evaluate(clients[c], "[1,2,3]"), "{\"error\":{\"code\":\"");
    }
    expect_code("zero handle", allot_evaluate(0, AMPLITUDE_REQUEST), "unknown_handle");
    expect_code("unknown handle", allot_status(UINT64_MAX), "unknown_handle");
    expect_code("NULL cookie", allot_cookie_generate(NULL, false), "invalid_argument");
    expect("cookie round trip", allot_cookie_parse("ZGV2aWNl", true), "{\"ok\":");
    expect("murmur3", allot_murmur3("{\"input\":\"x\"}"), "{\"ok\":{\"hash\":");
    allot_free(0);
    allot_free(UINT64_MAX);
    allot_string_free(NULL);
}

/* Clients shared by the threads; the replacer frees each one while others use it. */
static _Atomic uint64_t slots[SLOTS];
static atomic_int stop;

static void evaluate_shared(uint64_t client, int eppo) {
    char *answer = allot_evaluate(client, eppo ? EPPO_BATCH : AMPLITUDE_REQUEST);
    if (answer == NULL) {
        fail("NULL answer", NULL);
        return;
    }
    if (strncmp(answer, "{\"error\":{\"code\":\"unknown_handle\"", 33) == 0) {
        atomic_fetch_add(&stale_answers, 1);
    } else if (strncmp(answer, "{\"ok\":", 6) != 0) {
        fail("shared evaluate", answer);
    }
    allot_string_free(answer);
    atomic_fetch_add(&evaluations, 1);
}

static void *evaluator(void *arg) {
    (void)arg;
    for (long i = 0; !atomic_load(&stop); i++) {
        int slot = (int)(i % SLOTS);
        evaluate_shared(atomic_load(&slots[slot]), slot % 2);
    }
    return NULL;
}

/* Replaces `replacements` clients, each freed while the evaluators may be using it. */
static void replace_clients(long replacements) {
    for (long i = 0; i < replacements; i++) {
        int slot = (int)(i % SLOTS);
        uint64_t fresh = init_ok(slot % 2 ? eppo_config : amplitude_config);
        allot_free(atomic_exchange(&slots[slot], fresh));
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s AMPLITUDE_FLAGS.json EPPO_UFC.json [CYCLES [THREAD_ROUNDS]]\n", argv[0]);
        return 2;
    }
    long cycles = argc > 3 ? atol(argv[3]) : 2000;
    long replacements = argc > 4 ? atol(argv[4]) : 400;
    char *flags = read_file(argv[1]);
    char *ufc = read_file(argv[2]);
    /* Tracking goes to a port that refuses connections: events are queued, then dropped. */
    const char *tracking = "{\"api_key\":\"analytics-key\",\"server_url\":\"http://127.0.0.1:9\","
                           "\"max_queue_size\":64,\"shutdown_timeout_millis\":1}";
    amplitude_config = malloc(strlen(flags) + 2 * strlen(tracking) + 200);
    sprintf(amplitude_config,
            "{\"provider\":\"amplitude\",\"mode\":\"local\",\"api_key\":\"server-key\",\"flags\":%s,"
            "\"assignment_config\":%s,\"exposure_config\":%s}", flags, tracking, tracking);
    eppo_config = malloc(strlen(ufc) + 100);
    sprintf(eppo_config, "{\"provider\":\"eppo\",\"api_key\":\"sdk-key\",\"initial_configuration\":%s}", ufc);
    free(flags);
    free(ufc);

    for (long i = 0; i < cycles; i++) cycle((int)i);

    uint64_t amplitude = init_ok(amplitude_config);
    uint64_t eppo = init_ok(eppo_config);
    for (long i = 0; i < cycles / 10 + 1; i++) bad_inputs(amplitude, eppo);
    allot_free(amplitude);
    allot_free(eppo);

    for (int s = 0; s < SLOTS; s++) atomic_store(&slots[s], init_ok(s % 2 ? eppo_config : amplitude_config));
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, evaluator, NULL);
    replace_clients(replacements);
    atomic_store(&stop, 1);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int s = 0; s < SLOTS; s++) allot_free(atomic_load(&slots[s]));

    free(amplitude_config);
    free(eppo_config);
    printf("cycles: %ld (2 clients each), clients freed while %d threads evaluated: %ld, evaluations: %ld, "
           "stale-handle answers: %ld, failures: %ld\n", cycles, THREADS, replacements,
           atomic_load(&evaluations), atomic_load(&stale_answers), atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
