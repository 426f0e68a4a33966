package allot

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const goroutines = 16

// perUserFlags is a configuration in which user property n = "<k>" gets variant "g<k>"
// of flag "who", and every variant carries the configuration version in its payload.
func perUserFlags(version int) []byte {
	var segments, variants []string
	for k := 0; k < goroutines; k++ {
		variants = append(variants, fmt.Sprintf(`"g%d":{"key":"g%d","value":"value-%d","payload":{"n":%d,"version":%d}}`, k, k, k, k, version))
		segments = append(segments, fmt.Sprintf(`{"conditions":[[{"selector":["context","user","user_properties","n"],"op":"is","values":["%d"]}]],"variant":"g%d"}`, k, k))
	}
	return []byte(fmt.Sprintf(`[{"key":"who","metadata":{"flagVersion":%d},"variants":{%s},"segments":[%s]}]`,
		version, strings.Join(variants, ","), strings.Join(segments, ",")))
}

// Sixteen goroutines evaluate, each for its own user, while the server publishes a new
// configuration every few milliseconds: every goroutine always gets its own variant
// (results are never swapped between concurrent calls), and never sees the
// configuration go back in time.
func TestConcurrentEvaluationWhileTheConfigurationChanges(t *testing.T) {
	srv := newFlagServer(t, perUserFlags(1))
	c, err := NewLocalClient("k", LocalConfig{ServerURL: srv.URL, FlagConfigPollingInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(timeoutCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var published atomic.Int64
	published.Store(1)
	var publisher sync.WaitGroup
	publisher.Add(1)
	go func() {
		defer publisher.Done()
		for v := 2; ; v++ {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			srv.set(perUserFlags(v), http.StatusOK)
			published.Store(int64(v))
		}
	}()

	var wg sync.WaitGroup
	var evaluations atomic.Int64
	seen := make([]map[int]bool, goroutines)
	errs := make(chan error, goroutines)
	deadline := time.Now().Add(time.Second)
	for g := 0; g < goroutines; g++ {
		seen[g] = map[int]bool{}
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			user := User{UserID: fmt.Sprintf("user-%d", g), UserProperties: map[string]any{"n": fmt.Sprint(g)}}
			last := 0
			for time.Now().Before(deadline) {
				v, err := c.Evaluate(user, "who")
				if err != nil {
					errs <- err
					return
				}
				got := v["who"]
				payload, _ := got.Payload.(map[string]any)
				version := int(payload["version"].(float64))
				if got.Key != fmt.Sprintf("g%d", g) || got.Value != fmt.Sprintf("value-%d", g) || payload["n"] != float64(g) {
					errs <- fmt.Errorf("goroutine %d got another user's result: %+v", g, got)
					return
				}
				if got.Metadata["flagVersion"] != float64(version) {
					errs <- fmt.Errorf("goroutine %d: a mixed configuration: %+v", g, got)
					return
				}
				if version < last {
					errs <- fmt.Errorf("goroutine %d: configuration went back from %d to %d", g, last, version)
					return
				}
				last = version
				seen[g][version] = true
				evaluations.Add(1)
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	publisher.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	versions := map[int]bool{}
	for _, s := range seen {
		for v := range s {
			versions[v] = true
		}
	}
	if len(versions) < 2 {
		t.Fatalf("the evaluating goroutines saw only %d configurations of %d published", len(versions), published.Load())
	}
	t.Logf("%d evaluations by %d goroutines across %d configurations", evaluations.Load(), goroutines, len(versions))
}

// Concurrent calls returning different strings never get each other's: cookie values
// and names round-trip per goroutine.
func TestConcurrentStringReturnsAreNeverSwapped(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				device := fmt.Sprintf("device-%d-%d", g, i)
				value, err := GenerateAmplitudeCookie(device, true)
				if err != nil {
					errs <- err
					return
				}
				u, err := ParseAmplitudeCookie(value, true)
				if err != nil || u.DeviceID != device {
					errs <- fmt.Errorf("goroutine %d: %q came back as %q (%v)", g, device, u.DeviceID, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
