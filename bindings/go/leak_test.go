//go:build !race

// The race detector keeps its own growing shadow memory, so this test runs without it
// (`make test-go` runs it separately).

package allot

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rssBytes is the process's resident set size, from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func settledRSS(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(t)
}

// Process RSS stays flat over 500,000 evaluations: every returned string is freed and
// no request memory is kept. A leak of even one small result per call (~300 bytes)
// would add ~150 MB.
func TestLeakRSSStaysFlatOver500kEvaluations(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var cases corpus
	readJSON(t, sharedPath("conformance/amplitude/generated_corpus.json"), &cases)
	c := offlineClient(t, cases.Flags)
	users := make([]User, 0, 64)
	keys := make([][]string, 0, 64)
	for _, tc := range cases.Cases[:64] {
		var u User
		if err := json.Unmarshal(tc.User, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		keys = append(keys, tc.FlagKeys)
	}
	run := func(n int) {
		for i := 0; i < n; i++ {
			k := i % len(users)
			flags := keys[k]
			if len(flags) == 0 {
				flags = []string{"flag-1-0"}
			}
			if _, err := c.Evaluate(users[k], flags...); err != nil {
				t.Fatal(err)
			}
			if i%5000 == 0 { // also the error path (an error document per call)
				if _, err := c.Evaluate(User{UserID: strings.Repeat("x", 2<<20)}); err == nil {
					t.Fatal("expected input_too_large")
				}
			}
		}
	}
	run(50_000) // warm up: allocator arenas, caches, the Go heap's steady state
	before := settledRSS(t)
	run(500_000)
	after := settledRSS(t)
	growth := after - before
	t.Logf("RSS %d MiB → %d MiB (%+d KiB) over 500,000 evaluations", before>>20, after>>20, growth>>10)
	if growth > 24<<20 {
		t.Fatalf("RSS grew by %d MiB over 500,000 evaluations", growth>>20)
	}
}
