package allot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// analyticsServer collects the events posted to /2/httpapi.
type analyticsServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	keys   []string
}

func newAnalyticsServer(t *testing.T) *analyticsServer {
	s := &analyticsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/2/httpapi" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var batch struct {
			APIKey string           `json:"api_key"`
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, batch.Events...)
		s.keys = append(s.keys, batch.APIKey)
		s.mu.Unlock()
		w.Write([]byte(`{"code":200}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *analyticsServer) byType() map[string][]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]map[string]any{}
	for _, e := range s.events {
		out[e["event_type"].(string)] = append(out[e["event_type"].(string)], e)
	}
	return out
}

func TestAssignmentAndExposureTracking(t *testing.T) {
	srv := newAnalyticsServer(t)
	tracking := &TrackingConfig{APIKey: "analytics-key", ServerURL: srv.URL, FlushInterval: time.Hour}
	c, err := NewLocalClient("deployment-key", LocalConfig{
		FlagsPath:        exampleFlagsPath(),
		AssignmentConfig: tracking,
		ExposureConfig:   tracking,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	user := User{UserID: "ada@example.com", DeviceID: "d-1001", UserProperties: map[string]any{"plan": "enterprise"}}
	if _, err := c.Evaluate(user, "new-checkout"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EvaluateWithOptions(user, WithFlagKeys("new-checkout"), WithTracksAssignment(false), WithTracksExposure(true)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(timeoutCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := srv.byType()
	assignments, exposures := got["[Experiment] Assignment"], got["[Experiment] Exposure"]
	if len(assignments) != 1 || len(exposures) != 1 {
		t.Fatalf("assignments %d, exposures %d: %v", len(assignments), len(exposures), got)
	}
	props := assignments[0]["event_properties"].(map[string]any)
	if assignments[0]["user_id"] != "ada@example.com" || props["new-checkout.variant"] != "on" {
		t.Fatalf("assignment event: %v", assignments[0])
	}
	if exposures[0]["event_properties"].(map[string]any)["[Experiment] Flag Key"] != "new-checkout" {
		t.Fatalf("exposure event: %v", exposures[0])
	}
	if srv.keys[0] != "analytics-key" {
		t.Fatalf("api_key %q", srv.keys[0])
	}
	// Without tracking, Flush returns at once.
	plain := offlineClient(t, json.RawMessage(`[]`))
	if err := plain.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTrackingCallbackGetsEachEventsOutcome(t *testing.T) {
	srv := newAnalyticsServer(t)
	type call struct {
		eventType string
		code      int
		message   string
	}
	var mu sync.Mutex
	var calls []call
	callback := func(event map[string]any, code int, message string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{event["event_type"].(string), code, message})
	}
	c, err := NewLocalClient("deployment-key", LocalConfig{
		FlagsPath:        exampleFlagsPath(),
		AssignmentConfig: &TrackingConfig{APIKey: "a", ServerURL: srv.URL, Callback: callback},
		// No server: one send, then the event is dropped with -1.
		ExposureConfig: &TrackingConfig{APIKey: "e", ServerURL: "http://127.0.0.1:9", Callback: callback,
			RetryBackoffMin: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	user := User{UserID: "ada@example.com", DeviceID: "d-1001", UserProperties: map[string]any{"plan": "enterprise"}}
	if _, err := c.EvaluateWithOptions(user, WithFlagKeys("new-checkout"), WithTracksExposure(true)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(timeoutCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := map[call]bool{
		{"[Experiment] Assignment", 200, "Event sent successfully."}:       true,
		{"[Experiment] Exposure", -1, "Event reached max retry times 12."}: true,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := append([]call(nil), calls...)
		mu.Unlock()
		if len(got) == 2 && want[got[0]] && want[got[1]] && got[0] != got[1] {
			return
		}
		if time.Now().After(deadline) || len(got) > 2 {
			t.Fatalf("callback calls %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
