/* allot C example: the fast lane. Evaluates the bundled example flags through
 * allot_evaluate_compact, looking each result id up once with allot_result_json and
 * caching it per snapshot, as a binding does. Every answer goes into a buffer this
 * program owns: nothing is freed with allot_string_free.
 *
 *   cc -o fast_lane examples/c/fast_lane.c -Iinclude -Ltarget/release -lallot
 *   ./fast_lane examples/flags/flags.json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot.h"

#define CACHE_SIZE 256

/* The result JSON of each result id of one snapshot (ids are small, dense integers). */
struct cache {
    uint64_t snapshot;
    char *results[CACHE_SIZE];
};

static void cache_reset(struct cache *cache, uint64_t snapshot) {
    for (int i = 0; i < CACHE_SIZE; i++) {
        free(cache->results[i]);
        cache->results[i] = NULL;
    }
    cache->snapshot = snapshot;
}

static uint32_t read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_u64(const uint8_t *p) {
    return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
}

/* Prints the error document a fast-lane call wrote (or could not fit). */
static int report(const char *what, int64_t n, const uint8_t *buffer, size_t capacity) {
    if ((size_t)-n <= capacity)
        fprintf(stderr, "%s: %.*s\n", what, (int)-n, (const char *)buffer);
    else
        fprintf(stderr, "%s failed (error document of %lld bytes)\n", what, (long long)-n);
    return 1;
}

/* The cached JSON of a result id, fetched on first use; NULL when the snapshot changed. */
static const char *result(uint64_t client, struct cache *cache, uint32_t id) {
    if (id >= CACHE_SIZE)
        return NULL;
    if (cache->results[id] == NULL) {
        char small[256];
        int64_t n = allot_result_json(client, cache->snapshot, id, (uint8_t *)small, sizeof small);
        if (n <= 0)
            return NULL; /* 0: not the current snapshot any more; < 0: an error */
        char *text = malloc((size_t)n + 1);
        if (text == NULL)
            return NULL;
        if ((size_t)n > sizeof small) { /* too small: nothing was written, ask again */
            int64_t needed = n;
            n = allot_result_json(client, cache->snapshot, id, (uint8_t *)text, (size_t)needed);
            if (n <= 0 || n > needed) {
                free(text);
                return NULL;
            }
        } else {
            memcpy(text, small, (size_t)n);
        }
        text[n] = '\0';
        cache->results[id] = text;
    }
    return cache->results[id];
}

int main(int argc, char **argv) {
    const char *flags_path = argc > 1 ? argv[1] : "examples/flags/flags.json";
    char config[1024];
    snprintf(config, sizeof config,
             "{\"provider\":\"amplitude\",\"api_key\":\"example-key\",\"flags_path\":\"%s\"}", flags_path);
    char *error = NULL;
    uint64_t client = allot_init(config, &error);
    if (client == 0) {
        fprintf(stderr, "allot_init: %s\n", error);
        allot_string_free(error);
        return 1;
    }
    allot_string_free(allot_start(client, 0));

    static const char *users[] = {
        "{\"user_id\":\"ada@example.com\",\"device_id\":\"d-1001\",\"country\":\"United Kingdom\","
        "\"user_properties\":{\"plan\":\"enterprise\"}}",
        "{\"user_id\":\"user-2002\",\"device_id\":\"d-2002\",\"country\":\"United States\"}",
    };
    struct cache cache = {0};
    uint8_t answer[4096];
    int failed = 0;
    for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
        int64_t n = allot_evaluate_compact(client, users[u], NULL, answer, sizeof answer);
        if (n < 0) {
            failed |= report("allot_evaluate_compact", n, answer, sizeof answer);
            continue;
        }
        if ((size_t)n > sizeof answer) { /* more flags than this buffer holds */
            fprintf(stderr, "answer needs %lld bytes\n", (long long)n);
            failed = 1;
            continue;
        }
        uint64_t snapshot = read_u64(answer);
        uint32_t count = read_u32(answer + 8);
        if (snapshot != cache.snapshot)
            cache_reset(&cache, snapshot);
        printf("user %zu (snapshot %llu):\n", u + 1, (unsigned long long)snapshot);
        for (uint32_t i = 0; i < count; i++) {
            const char *json = result(client, &cache, read_u32(answer + 12 + 4 * i));
            if (json == NULL) {
                fprintf(stderr, "result %u unavailable\n", (unsigned)i);
                failed = 1;
                continue;
            }
            printf("  %s\n", json);
        }
    }
    cache_reset(&cache, 0);
    allot_free(client);
    return failed;
}
