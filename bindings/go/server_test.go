package allot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flagsFor is a one-flag configuration whose variant key names the configuration
// version: every user gets variant "v<version>".
func flagsFor(version int) []byte {
	return []byte(fmt.Sprintf(`[{"key":"release","metadata":{"flagType":"release","flagVersion":%d},
	  "variants":{"v%d":{"key":"v%d","value":"v%d"}},
	  "segments":[{"variant":"v%d","metadata":{"segmentName":"All"}}]}]`, version, version, version, version, version))
}

// flagServer serves /sdk/v2/flags?v=0 with the current configuration and records
// what the clients sent.
type flagServer struct {
	*httptest.Server
	mu      sync.Mutex
	flags   []byte
	status  int
	hits    atomic.Int64
	authSet atomic.Value // the last Authorization header
}

func newFlagServer(t *testing.T, flags []byte) *flagServer {
	s := &flagServer{flags: flags, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sdk/v2/flags" || r.URL.Query().Get("v") != "0" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		s.authSet.Store(r.Header.Get("Authorization"))
		s.mu.Lock()
		body, status := s.flags, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *flagServer) set(flags []byte, status int) {
	s.mu.Lock()
	s.flags, s.status = flags, status
	s.mu.Unlock()
}

func TestLocalClientPollsAFlagServer(t *testing.T) {
	srv := newFlagServer(t, flagsFor(1))
	c, err := NewLocalClient("server-key", LocalConfig{
		ServerURL:                      srv.URL,
		FlagConfigPollingInterval:      50 * time.Millisecond,
		FlagConfigPollerRequestTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(timeoutCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := srv.authSet.Load(); got != "Api-Key server-key" {
		t.Fatalf("Authorization = %q", got)
	}
	v, err := c.Evaluate(User{UserID: "u"}, "release")
	if err != nil || v["release"].Key != "v1" {
		t.Fatalf("first configuration: %v, %v", v, err)
	}
	st, _ := c.Status()
	if st.Source != "poll" || !st.Polling || st.FlagCount != 1 || st.ServerURL != srv.URL || st.LastSuccessAt == nil {
		t.Fatalf("status: %+v", st)
	}
	// A new configuration is picked up by the next polls.
	srv.set(flagsFor(2), http.StatusOK)
	eventually(t, 5*time.Second, "the second configuration", func() bool {
		v, err := c.Evaluate(User{UserID: "u"})
		return err == nil && v["release"].Key == "v2"
	})
	// A failing server keeps the last good configuration and reports the error.
	srv.set([]byte("busy"), http.StatusServiceUnavailable)
	eventually(t, 5*time.Second, "the poll error in the status", func() bool {
		st, err := c.Status()
		return err == nil && st.LastError != nil && st.LastError.Code == "http_status"
	})
	if v, _ := c.Evaluate(User{UserID: "u"}); v["release"].Key != "v2" {
		t.Fatalf("after a failed poll: %v", v)
	}
}

func TestLocalClientStartTimesOutWithTheContext(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	c, err := NewLocalClient("k", LocalConfig{ServerURL: slow.URL, FlagConfigPollerRequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	began := time.Now()
	err = c.Start(timeoutCtx(t, 300*time.Millisecond))
	elapsed := time.Since(began)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	if elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("Start returned after %v for a 300 ms deadline", elapsed)
	}
	// A cancelled context stops the wait too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	if err := c.Start(ctx); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Start with a cancelled context: %v", err)
	}
	// Not initialized yet: evaluation returns no variants (not an error).
	v, err := c.Evaluate(User{UserID: "u"})
	if err != nil || len(v) != 0 {
		t.Fatalf("Evaluate while uninitialized: %v, %v", v, err)
	}
}

func TestLocalClientStartReportsUnauthorized(t *testing.T) {
	srv := newFlagServer(t, []byte(`{"error":"bad key"}`))
	srv.set([]byte(`{"error":"bad key"}`), http.StatusUnauthorized)
	c, err := NewLocalClient("wrong-key-123456", LocalConfig{ServerURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Start(timeoutCtx(t, 5*time.Second))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Start: %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong-key-123456") {
		t.Fatalf("the key leaked into the error: %v", err)
	}
}

func TestLocalClientStartReportsAConnectionFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := NewLocalClient("k", LocalConfig{ServerURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(timeoutCtx(t, 5*time.Second)); !errors.Is(err, ErrNetwork) {
		t.Fatalf("Start: %v, want ErrNetwork", err)
	}
}

// remoteServer answers /sdk/v2/vardata?v=0: the first `failures` requests with 503,
// then the variants.
func remoteServer(t *testing.T, failures int64, status int) (*httptest.Server, *atomic.Int64, chan *http.Request, chan []byte) {
	var hits atomic.Int64
	requests := make(chan *http.Request, 16)
	bodies := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		requests <- r
		bodies <- body
		if r.URL.Path != "/sdk/v2/vardata" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		if n <= failures {
			http.Error(w, "busy", status)
			return
		}
		var user map[string]any
		json.Unmarshal(body, &user)
		fmt.Fprintf(w, `{"remote-flag":{"key":"on","value":"on","payload":{"for":%q},"metadata":{"flagVersion":3}}}`, user["user_id"])
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, requests, bodies
}

func TestRemoteClientFetchRetries(t *testing.T) {
	srv, hits, requests, bodies := remoteServer(t, 2, http.StatusServiceUnavailable)
	c, err := NewRemoteClient("remote-key", RemoteConfig{
		ServerURL:            srv.URL,
		FetchRetries:         2,
		FetchRetryBackoffMin: 10 * time.Millisecond,
		FetchRetryBackoffMax: 50 * time.Millisecond,
		FetchTimeout:         2 * time.Second,
		FetchRetryTimeout:    2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	user := User{UserID: "u-7", DeviceID: "d-7", UserProperties: map[string]any{"plan": "team"}}
	v, err := c.Fetch(timeoutCtx(t, 10*time.Second), user, WithFlagKeys("remote-flag"), WithTracksAssignment(false))
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d requests, want 3 (two 503s, then success)", hits.Load())
	}
	if got := v["remote-flag"]; got.Key != "on" || got.Value != "on" || got.Payload.(map[string]any)["for"] != "u-7" ||
		got.Metadata["flagVersion"] != float64(3) {
		t.Fatalf("variants: %+v", v)
	}
	r := <-requests
	if r.Header.Get("Authorization") != "Api-Key remote-key" || r.URL.Query().Get("v") != "0" ||
		r.Header.Get("X-Amp-Exp-Track") != "no-track" || r.Header.Get("X-Amp-Exp-Flag-Keys") == "" {
		t.Fatalf("request: %s %v", r.URL, r.Header)
	}
	var sent map[string]any
	if err := json.Unmarshal(<-bodies, &sent); err != nil || sent["user_id"] != "u-7" || sent["device_id"] != "d-7" {
		t.Fatalf("body: %v, %v", sent, err)
	}
	st, err := c.Status()
	if err != nil || st.Mode != "remote" || st.LastSuccessAt == nil {
		t.Fatalf("status: %+v, %v", st, err)
	}
}

func TestRemoteClientFetchErrors(t *testing.T) {
	// A 400 is not retried.
	srv, hits, _, _ := remoteServer(t, 100, http.StatusBadRequest)
	c, err := NewRemoteClient("k", RemoteConfig{ServerURL: srv.URL, FetchRetries: 3, FetchRetryBackoffMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Fetch(context.Background(), User{UserID: "u"}); !errors.Is(err, ErrHTTPStatus) || hits.Load() != 1 {
		t.Fatalf("Fetch: %v after %d requests, want ErrHTTPStatus after 1", err, hits.Load())
	}
	// Retries run out on persistent 503s.
	srv2, hits2, _, _ := remoteServer(t, 100, http.StatusServiceUnavailable)
	c2, _ := NewRemoteClient("k", RemoteConfig{ServerURL: srv2.URL, FetchRetries: 2, FetchRetryBackoffMin: time.Millisecond})
	defer c2.Close()
	if _, err := c2.Fetch(context.Background(), User{UserID: "u"}); !errors.Is(err, ErrHTTPStatus) || hits2.Load() != 3 {
		t.Fatalf("Fetch: %v after %d requests, want ErrHTTPStatus after 3", err, hits2.Load())
	}
	// The context's deadline ends the wait for a slow server.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	c3, _ := NewRemoteClient("k", RemoteConfig{ServerURL: slow.URL, FetchTimeout: 3 * time.Second})
	defer c3.Close()
	began := time.Now()
	_, err = c3.Fetch(timeoutCtx(t, 100*time.Millisecond), User{UserID: "u"})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > time.Second {
		t.Fatalf("Fetch with a deadline: %v after %v", err, time.Since(began))
	}
	// Remote clients do not evaluate locally; local clients do not fetch.
	if _, err := c3.Status(); err != nil {
		t.Fatal(err)
	}
	c3.Close()
	if _, err := c3.Fetch(context.Background(), User{}); !errors.Is(err, ErrUnknownHandle) {
		t.Fatalf("Fetch after Close: %v", err)
	}
}

func TestLocalClientSyncsCohorts(t *testing.T) {
	flags := []byte(`[{"key":"vip","variants":{"on":{"key":"on"},"off":{"key":"off"}},
	  "segments":[{"conditions":[[{"selector":["context","user","cohort_ids"],"op":"set contains any","values":["c1"]}]],"variant":"on"},
	              {"variant":"off"}]},
	 {"key":"big","variants":{"on":{"key":"on"},"off":{"key":"off"}},
	  "segments":[{"conditions":[[{"selector":["context","user","cohort_ids"],"op":"set contains any","values":["c2"]}]],"variant":"on"},
	              {"variant":"off"}]}]`)
	srv := newFlagServer(t, flags)
	var auth atomic.Value
	cohorts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/sdk/v1/cohort/c1":
			w.Write([]byte(`{"cohortId":"c1","groupType":"User","lastModified":5,"size":1,"memberIds":["alice"]}`))
		default:
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}))
	t.Cleanup(cohorts.Close)
	c, err := NewLocalClient("server-key", LocalConfig{
		ServerURL: srv.URL,
		CohortSync: &CohortSyncConfig{APIKey: "project-key", SecretKey: "project-secret", CohortServerURL: cohorts.URL,
			CohortPollingInterval: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(timeoutCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]string{"alice": "on", "bob": "off"} {
		v, err := c.Evaluate(User{UserID: user, CohortIDs: []string{"c1"}})
		if err != nil || v["vip"].Key != want || v["big"].Key != "off" {
			t.Fatalf("%s: %v, %v", user, v, err)
		}
	}
	if got := auth.Load(); got != "Basic cHJvamVjdC1rZXk6cHJvamVjdC1zZWNyZXQ=" {
		t.Fatalf("Authorization = %q", got)
	}
	st, err := c.Status()
	if err != nil || st.CohortSync == nil || st.CohortSync.ServerURL != cohorts.URL {
		t.Fatalf("status: %+v, %v", st, err)
	}
	c1, c2 := st.CohortSync.Cohorts["c1"], st.CohortSync.Cohorts["c2"]
	if c1.GroupType != "User" || c1.MemberCount == nil || *c1.MemberCount != 1 || c1.LastModified == nil || *c1.LastModified != 5 {
		t.Fatalf("c1: %+v", c1)
	}
	if c2.MemberCount != nil || c2.LastError == nil || c2.LastError.Code != "http_status" {
		t.Fatalf("c2: %+v", c2)
	}
	if strings.Contains(string(st.Raw), "project-secret") {
		t.Fatalf("the status shows the secret: %s", st.Raw)
	}
	if st.CohortSync.PollingIntervalMillis != 60000 {
		t.Fatalf("polling interval %d, want 1 s raised to 60000", st.CohortSync.PollingIntervalMillis)
	}
}
