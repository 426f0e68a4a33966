/* allot C example: evaluate the bundled example flags for a few users.
 *
 *   cc -o demo examples/c/demo.c -Iinclude -Ltarget/release -lallot
 *   ./demo examples/flags/flags.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot.h"

/* Prints a returned document, frees it, and reports whether it was an error. */
static int print_and_free(const char *label, char *response) {
    int failed = strncmp(response, "{\"error\"", 8) == 0;
    printf("%s: %s\n", label, response);
    allot_string_free(response);
    return failed;
}

int main(int argc, char **argv) {
    const char *flags_path = argc > 1 ? argv[1] : "examples/flags/flags.json";
    static const char *users[] = {
        "{\"user_id\":\"ada@example.com\",\"device_id\":\"d-1001\",\"country\":\"United Kingdom\","
        "\"version\":\"1.9.0\",\"user_properties\":{\"plan\":\"enterprise\",\"email\":\"ada@example.com\"}}",
        "{\"user_id\":\"user-2002\",\"device_id\":\"d-2002\",\"country\":\"United States\",\"version\":\"2.3.1\","
        "\"user_properties\":{\"plan\":\"free\"}}",
        "{\"user_id\":\"user-3003\",\"device_id\":\"d-3003\",\"country\":\"Canada\",\"version\":\"1.4.0\","
        "\"user_properties\":{\"plan\":\"team\"}}",
        "{\"user_id\":\"user-4004\",\"device_id\":\"d-4004\",\"country\":\"Germany\",\"version\":\"2.0.0\"}",
    };
    char config[4096];
    char request[4096];
    char *error = NULL;
    int failures = 0;

    printf("allot %s\n", allot_version());
    snprintf(config, sizeof config,
             "{\"provider\":\"amplitude\",\"mode\":\"local\",\"api_key\":\"demo\",\"flags_path\":\"%s\"}",
             flags_path);
    uint64_t client = allot_init(config, &error);
    if (client == 0) {
        fprintf(stderr, "allot_init failed: %s\n", error);
        allot_string_free(error);
        return 1;
    }
    failures += print_and_free("start", allot_start(client, 1000));
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        snprintf(request, sizeof request, "{\"user\":%s}", users[i]);
        char label[32];
        snprintf(label, sizeof label, "user %zu", i + 1);
        failures += print_and_free(label, allot_evaluate(client, request));
    }
    /* Only one flag (its dependency, the holdout, is evaluated and returned too). */
    snprintf(request, sizeof request, "{\"user\":%s,\"flag_keys\":[\"onboarding-v2\"]}", users[1]);
    failures += print_and_free("user 2, onboarding-v2 only", allot_evaluate(client, request));

    allot_free(client);
    /* A freed handle is an error, never a crash. */
    char *stale = allot_evaluate(client, request);
    int stale_is_error = strstr(stale, "\"unknown_handle\"") != NULL;
    printf("after free: %s\n", stale);
    allot_string_free(stale);
    return failures == 0 && stale_is_error ? 0 : 1;
}
