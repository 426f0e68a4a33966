/* C-level checks of the ABI contract: NULL and bad input, stale handles, ownership. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allot.h"

static int failures = 0;

static void expect_code(const char *what, char *response, const char *code) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"code\":\"%s\"", code);
    if (response == NULL || strstr(response, needle) == NULL) {
        fprintf(stderr, "FAIL %s: expected %s, got %s\n", what, code, response ? response : "NULL");
        failures++;
    }
    allot_string_free(response);
}

int main(void) {
    char *error = NULL;
    if (allot_init(NULL, &error) != 0 || error == NULL) {
        fprintf(stderr, "FAIL init(NULL) must fail with an error\n");
        return 1;
    }
    expect_code("init(NULL)", error, "invalid_argument");
    error = NULL;
    if (allot_init("{\"provider\":\"amplitude\",\"flagz\":[]}", &error) != 0) failures++;
    expect_code("unknown config field", error, "invalid_config");
    if (allot_init("not json", NULL) != 0) failures++; /* error_json may be NULL */

    error = NULL;
    uint64_t client = allot_init("{\"provider\":\"amplitude\",\"api_key\":\"k\",\"flags\":[]}", &error);
    if (client == 0 || error != NULL) {
        fprintf(stderr, "FAIL valid init\n");
        return 1;
    }
    expect_code("evaluate before start", allot_evaluate(client, "{\"user\":{}}"), "not_started");
    allot_string_free(allot_start(client, 0));
    expect_code("NULL request", allot_evaluate(client, NULL), "invalid_argument");
    expect_code("invalid UTF-8", allot_evaluate(client, "{\"user\":{\"user_id\":\"\xff\"}}"), "invalid_utf8");
    expect_code("invalid JSON", allot_evaluate(client, "{\"user\":"), "invalid_json");
    expect_code("fetch on a local client", allot_fetch(client, "{\"user\":{}}"), "unsupported");
    char *ok = allot_evaluate(client, "{\"user\":{\"user_id\":\"u\"}}");
    if (strcmp(ok, "{\"ok\":{\"variants\":{}}}") != 0) {
        fprintf(stderr, "FAIL empty evaluation: %s\n", ok);
        failures++;
    }
    allot_string_free(ok);
    allot_free(client);
    allot_free(client); /* idempotent */
    allot_free(0);
    expect_code("stale handle", allot_status(client), "unknown_handle");
    expect_code("zero handle", allot_start(0, 0), "unknown_handle");
    allot_string_free(NULL);
    if (allot_version() == NULL || strlen(allot_version()) == 0) failures++;

    if (failures) {
        fprintf(stderr, "%d C ABI check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI smoke test: all checks passed\n");
    return 0;
}
