package allot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type eppoCase struct {
	Flag          string `json:"flag"`
	VariationType string `json:"variationType"`
	DefaultValue  any    `json:"defaultValue"`
	Subjects      []struct {
		SubjectKey        string                     `json:"subjectKey"`
		SubjectAttributes Attributes                 `json:"subjectAttributes"`
		Assignment        any                        `json:"assignment"`
		EvaluationDetails map[string]json.RawMessage `json:"evaluationDetails"`
	} `json:"subjects"`
}

func eppoCases(t testing.TB) map[string]eppoCase {
	dir := sharedPath("conformance/eppo/tests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	cases := map[string]eppoCase{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			var c eppoCase
			readJSON(t, filepath.Join(dir, e.Name()), &c)
			cases[e.Name()] = c
		}
	}
	return cases
}

// recordingLogger keeps every event it receives.
type recordingLogger struct {
	mu     sync.Mutex
	events []AssignmentEvent
}

func (l *recordingLogger) LogAssignment(e AssignmentEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *recordingLogger) take() []AssignmentEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	events := l.events
	l.events = nil
	return events
}

func eppoClient(t testing.TB, file string, logger AssignmentLogger) *EppoClient {
	t.Helper()
	c, err := NewEppoClient(EppoConfig{
		APIKey:            "test-sdk-key",
		ConfigurationPath: sharedPath("conformance/eppo/" + file),
		DisablePolling:    true,
		AssignmentLogger:  logger,
	})
	if err != nil {
		t.Fatalf("NewEppoClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// assignTyped calls the typed ...Details method for the case's variation type.
func assignTyped(c *EppoClient, tc eppoCase, subject string, attrs Attributes) (value any, code, variationKey, allocationKey string, details EvaluationDetails, err error) {
	switch tc.VariationType {
	case "STRING":
		var d AssignmentDetails[string]
		d, err = c.GetStringAssignmentDetails(tc.Flag, subject, attrs, tc.DefaultValue.(string))
		value, code, variationKey, allocationKey, details = d.Variation, d.Code, d.VariationKey, d.AllocationKey, d.Details
	case "BOOLEAN":
		var d AssignmentDetails[bool]
		d, err = c.GetBooleanAssignmentDetails(tc.Flag, subject, attrs, tc.DefaultValue.(bool))
		value, code, variationKey, allocationKey, details = d.Variation, d.Code, d.VariationKey, d.AllocationKey, d.Details
	case "INTEGER":
		var d AssignmentDetails[int64]
		d, err = c.GetIntegerAssignmentDetails(tc.Flag, subject, attrs, int64(tc.DefaultValue.(float64)))
		value, code, variationKey, allocationKey, details = float64(d.Variation), d.Code, d.VariationKey, d.AllocationKey, d.Details
	case "NUMERIC":
		var d AssignmentDetails[float64]
		d, err = c.GetNumericAssignmentDetails(tc.Flag, subject, attrs, tc.DefaultValue.(float64))
		value, code, variationKey, allocationKey, details = d.Variation, d.Code, d.VariationKey, d.AllocationKey, d.Details
	case "JSON":
		var d AssignmentDetails[any]
		d, err = c.GetJSONAssignmentDetails(tc.Flag, subject, attrs, tc.DefaultValue)
		value, code, variationKey, allocationKey, details = d.Variation, d.Code, d.VariationKey, d.AllocationKey, d.Details
	default:
		err = fmt.Errorf("unknown variation type %q", tc.VariationType)
	}
	return
}

// plainAssign calls the typed method without details.
func plainAssign(c *EppoClient, tc eppoCase, subject string, attrs Attributes) (any, error) {
	switch tc.VariationType {
	case "STRING":
		return c.GetStringAssignment(tc.Flag, subject, attrs, tc.DefaultValue.(string))
	case "BOOLEAN":
		return c.GetBooleanAssignment(tc.Flag, subject, attrs, tc.DefaultValue.(bool))
	case "INTEGER":
		v, err := c.GetIntegerAssignment(tc.Flag, subject, attrs, int64(tc.DefaultValue.(float64)))
		return float64(v), err
	case "NUMERIC":
		return c.GetNumericAssignment(tc.Flag, subject, attrs, tc.DefaultValue.(float64))
	case "JSON":
		return c.GetJSONAssignment(tc.Flag, subject, attrs, tc.DefaultValue)
	}
	return nil, fmt.Errorf("unknown variation type %q", tc.VariationType)
}

func runEppoSuite(t *testing.T, file string, obfuscated bool) {
	logger := &recordingLogger{}
	c := eppoClient(t, file, logger)
	cases := eppoCases(t)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	subjects, failures := 0, 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 15 {
			t.Errorf(format, args...)
		}
	}
	for _, name := range names {
		tc := cases[name]
		for _, s := range tc.Subjects {
			subjects++
			where := name + " / " + s.SubjectKey
			value, code, variationKey, allocationKey, details, err := assignTyped(c, tc, s.SubjectKey, s.SubjectAttributes)
			if err != nil {
				fail("%s: %v", where, err)
				continue
			}
			if !reflect.DeepEqual(value, s.Assignment) {
				fail("%s: value %#v, want %#v", where, value, s.Assignment)
			}
			plain, err := plainAssign(c, tc, s.SubjectKey, s.SubjectAttributes)
			if err != nil || !reflect.DeepEqual(plain, s.Assignment) {
				fail("%s: plain value %#v (%v), want %#v", where, plain, err, s.Assignment)
			}
			var wantCode string
			json.Unmarshal(s.EvaluationDetails["flagEvaluationCode"], &wantCode)
			if code != wantCode || details.FlagEvaluationCode != wantCode {
				fail("%s: code %s / %s, want %s", where, code, details.FlagEvaluationCode, wantCode)
			}
			if code == CodeMatch {
				var wantVariation string
				json.Unmarshal(s.EvaluationDetails["variationKey"], &wantVariation)
				var wantAllocation struct {
					Key string `json:"key"`
				}
				json.Unmarshal(s.EvaluationDetails["matchedAllocation"], &wantAllocation)
				if variationKey != wantVariation || allocationKey != wantAllocation.Key {
					fail("%s: variation %q allocation %q, want %q %q", where, variationKey, allocationKey, wantVariation, wantAllocation.Key)
				}
			} else if variationKey != "" || allocationKey != "" {
				fail("%s: no match, yet variation %q allocation %q", where, variationKey, allocationKey)
			}
			// The details document, field by field, as the suite writes it.
			got, _ := json.Marshal(details)
			var gotFields map[string]json.RawMessage
			json.Unmarshal(got, &gotFields)
			for _, field := range []string{"flagEvaluationCode", "flagEvaluationDescription", "environmentName",
				"variationKey", "variationValue", "banditKey", "banditAction", "matchedRule", "matchedAllocation",
				"unmatchedAllocations", "unevaluatedAllocations"} {
				if obfuscated && field == "matchedRule" {
					continue
				}
				var a, b any
				json.Unmarshal(gotFields[field], &a)
				json.Unmarshal(s.EvaluationDetails[field], &b)
				if !reflect.DeepEqual(a, b) {
					fail("%s: details.%s = %s, want %s", where, field, gotFields[field], s.EvaluationDetails[field])
				}
			}
			if details.FlagKey != tc.Flag || details.SubjectKey != s.SubjectKey {
				fail("%s: details name %q/%q", where, details.FlagKey, details.SubjectKey)
			}
		}
	}
	if failures > 0 {
		t.Fatalf("%d mismatches over %d subjects", failures, subjects)
	}
	if len(cases) != 24 || subjects != 225 {
		t.Fatalf("ran %d subjects from %d files; the suite has 225 in 24", subjects, len(cases))
	}
	if len(logger.take()) == 0 {
		t.Fatal("the suite produced no assignment events")
	}
}

func TestEppoConformanceSuite(t *testing.T) { runEppoSuite(t, "flags-v1.json", false) }
func TestEppoConformanceSuiteObfuscated(t *testing.T) {
	runEppoSuite(t, "flags-v1-obfuscated.json", true)
}

func TestEppoAssignmentEventsReachTheLogger(t *testing.T) {
	logger := &recordingLogger{}
	c := eppoClient(t, "flags-v1.json", logger)
	// Subject "3" falls in the "experiment" allocation, which logs (doLog).
	attrs := Attributes{"country": "UK", "age": 33}
	v, err := c.GetStringAssignment("new-user-onboarding", "3", attrs, "default")
	if err != nil || v != "control" {
		t.Fatalf("assignment: %q, %v", v, err)
	}
	events := logger.take()
	if len(events) != 1 {
		t.Fatalf("%d events for one matched assignment: %+v", len(events), events)
	}
	e := events[0]
	if e.FeatureFlag != "new-user-onboarding" || e.Subject != "3" || e.Variation != v ||
		e.Experiment != "new-user-onboarding-experiment" || e.Allocation != "experiment" ||
		e.SubjectAttributes["country"] != "UK" || e.MetaData["sdkName"] == "" || e.MetaData["sdkVersion"] == "" {
		t.Fatalf("event: %+v", e)
	}
	if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
		t.Fatalf("timestamp %q: %v", e.Timestamp, err)
	}
	// A match in an allocation without doLog ("internal users"): no event.
	if v, err := c.GetStringAssignment("new-user-onboarding", "alice", Attributes{"email": "alice@mycompany.com", "country": "US"}, "d"); err != nil || v != "green" {
		t.Fatalf("alice: %q, %v", v, err)
	}
	// No match (unknown flag): the default, code in the details, no event.
	d, err := c.GetStringAssignmentDetails("no-such-flag", "alice", nil, "fallback")
	if err != nil || d.Variation != "fallback" || d.Code != CodeFlagUnrecognizedOrDisabled {
		t.Fatalf("unknown flag: %+v, %v", d, err)
	}
	// The wrong type: the default with TYPE_MISMATCH.
	n, err := c.GetIntegerAssignmentDetails("new-user-onboarding", "3", attrs, 7)
	if err != nil || n.Variation != 7 || n.Code != CodeTypeMismatch {
		t.Fatalf("type mismatch: %+v, %v", n, err)
	}
	if events := logger.take(); len(events) != 0 {
		t.Fatalf("events without a match: %+v", events)
	}
}

type panickingLogger struct{ calls atomic.Int64 }

func (l *panickingLogger) LogAssignment(AssignmentEvent) {
	l.calls.Add(1)
	panic("logger exploded")
}

func TestEppoLoggerPanicIsRecoveredAndLogged(t *testing.T) {
	var buf bytes.Buffer
	logger := &panickingLogger{}
	c, err := NewEppoClient(EppoConfig{
		APIKey:            "k",
		ConfigurationPath: sharedPath("conformance/eppo/flags-v1.json"),
		DisablePolling:    true,
		AssignmentLogger:  logger,
		ErrorLog:          log.New(&buf, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.GetStringAssignment("new-user-onboarding", "3", Attributes{"country": "UK", "age": 33}, "default")
	if err != nil || v != "control" {
		t.Fatalf("assignment with a panicking logger: %q, %v", v, err)
	}
	if logger.calls.Load() != 1 || !strings.Contains(buf.String(), "logger exploded") {
		t.Fatalf("calls %d, log %q", logger.calls.Load(), buf.String())
	}
}

func TestEppoAssignmentCacheDeduplicatesEvents(t *testing.T) {
	logger := &recordingLogger{}
	c, err := NewEppoClient(EppoConfig{
		APIKey:            "k",
		ConfigurationPath: sharedPath("conformance/eppo/flags-v1.json"),
		DisablePolling:    true,
		AssignmentLogger:  logger,
		AssignmentCache:   &AssignmentCacheConfig{Capacity: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	attrs := Attributes{"country": "UK", "age": 33}
	for i := 0; i < 5; i++ {
		if _, err := c.GetStringAssignment("new-user-onboarding", "3", attrs, "d"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(logger.take()); n != 1 {
		t.Fatalf("%d events for five identical assignments with a cache", n)
	}
}

func TestEppoErrorsAndLifecycle(t *testing.T) {
	if _, err := NewEppoClient(EppoConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no API key: %v", err)
	}
	if _, err := NewEppoClient(EppoConfig{APIKey: "k", ConfigurationPath: "/no/such/ufc.json"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing file: %v", err)
	}
	c := eppoClient(t, "flags-v1.json", nil)
	if err := c.WaitForInitialization(timeoutCtx(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status()
	if err != nil || st.Provider != "eppo" || !st.Initialized || st.FlagCount == 0 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if _, err := c.GetNumericAssignment("numeric_flag", "alice", nil, 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if v, err := c.GetStringAssignment("f", "s", nil, "d"); !errors.Is(err, ErrUnknownHandle) || v != "d" {
		t.Fatalf("after Close: %q, %v", v, err)
	}
}

// Sixteen goroutines assign concurrently; each gets the same answer as a serial run,
// and the logger sees exactly one event per matched assignment.
func TestEppoConcurrentAssignments(t *testing.T) {
	logger := &recordingLogger{}
	c := eppoClient(t, "flags-v1.json", logger)
	cases := eppoCases(t)
	tc := cases["test-case-new-user-onboarding-flag.json"]
	want := map[string]any{} // by subject key, for the events (only unambiguous keys)
	for _, s := range tc.Subjects {
		if _, dup := want[s.SubjectKey]; dup {
			want[s.SubjectKey] = nil
		} else {
			want[s.SubjectKey] = s.Assignment
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := tc.Subjects[(g+i)%len(tc.Subjects)]
				v, err := c.GetStringAssignment(tc.Flag, s.SubjectKey, s.SubjectAttributes, tc.DefaultValue.(string))
				if err != nil || v != s.Assignment {
					errs <- fmt.Errorf("goroutine %d, %s: %q (%v), want %v", g, s.SubjectKey, v, err, s.Assignment)
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
	events := logger.take()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	for _, e := range events {
		if w := want[e.Subject]; w != nil && e.Variation != w {
			t.Fatalf("event for %s has variation %q, want %v", e.Subject, e.Variation, want[e.Subject])
		}
	}
}

// Eppo polling from a real HTTP server: the configuration comes from
// GET {base}/flag-config/v1/config?apiKey=…&sdkName=…&sdkVersion=…, and a changed
// configuration is picked up by a later poll.
func TestEppoPollsTheConfigurationServer(t *testing.T) {
	ufc, err := os.ReadFile(sharedPath("conformance/eppo/flags-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The second configuration disables the kill switch.
	var doc map[string]any
	json.Unmarshal(ufc, &doc)
	doc["flags"].(map[string]any)["kill-switch"].(map[string]any)["enabled"] = false
	changed, _ := json.Marshal(doc)

	var hits atomic.Int64
	var lastQuery atomic.Value
	var serving atomic.Value
	serving.Store(ufc)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/flag-config/v1/config" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		lastQuery.Store(r.URL.Query())
		w.Header().Set("Content-Type", "application/json")
		w.Write(serving.Load().([]byte))
	}))
	defer srv.Close()
	c, err := NewEppoClient(EppoConfig{APIKey: "sdk-key-123", BaseURL: srv.URL, PollInterval: 100 * time.Millisecond, PollJitter: 10 * time.Millisecond})
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("the library has no Eppo polling yet: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitForInitialization(timeoutCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	q := lastQuery.Load().(url.Values)
	if q.Get("apiKey") != "sdk-key-123" || q.Get("sdkName") == "" || q.Get("sdkVersion") == "" {
		t.Fatalf("query: %v", q)
	}
	v, err := c.GetStringAssignment("new-user-onboarding", "3", Attributes{"country": "UK", "age": 33}, "default")
	if err != nil || v != "control" {
		t.Fatalf("assignment: %q, %v", v, err)
	}
	attrs := Attributes{"country": "US"}
	if on, err := c.GetBooleanAssignment("kill-switch", "alice", attrs, false); err != nil || !on {
		t.Fatalf("kill-switch before the change: %v, %v", on, err)
	}
	serving.Store(changed)
	eventually(t, 5*time.Second, "the changed configuration", func() bool {
		d, err := c.GetBooleanAssignmentDetails("kill-switch", "alice", attrs, false)
		return err == nil && !d.Variation && d.Code == CodeFlagUnrecognizedOrDisabled
	})
	if hits.Load() < 2 {
		t.Fatalf("%d polls", hits.Load())
	}
}

// A wrong key is reported by WaitForInitialization, and the key is not in the error.
func TestEppoUnauthorized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad key", http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, err := NewEppoClient(EppoConfig{APIKey: "wrong-sdk-key-42", BaseURL: srv.URL})
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("the library has no Eppo polling yet: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.WaitForInitialization(timeoutCtx(t, 5*time.Second))
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "wrong-sdk-key-42") {
		t.Fatalf("WaitForInitialization: %v", err)
	}
	// Before any configuration: the default, CONFIGURATION_MISSING.
	d, err := c.GetStringAssignmentDetails("f", "s", nil, "d")
	if err != nil || d.Variation != "d" || d.Code != CodeConfigurationMissing {
		t.Fatalf("%+v, %v", d, err)
	}
}

func TestEppoInitialConfiguration(t *testing.T) {
	ufc, err := os.ReadFile(sharedPath("conformance/eppo/flags-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewEppoClient(EppoConfig{APIKey: "k", InitialConfiguration: ufc, DisablePolling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	on, err := c.GetBooleanAssignment("kill-switch", "alice", Attributes{"country": "US"}, false)
	if err != nil || !on {
		t.Fatalf("kill-switch: %v, %v", on, err)
	}
	js, err := c.GetJSONAssignment("json-config-flag", "1", Attributes{}, map[string]any{"d": true})
	if m, ok := js.(map[string]any); err != nil || !ok || len(m) == 0 {
		t.Fatalf("json flag: %#v, %v", js, err)
	}
}

// Keys holding a NUL byte cannot be passed as C strings: the typed assignments then take
// the JSON path, with the same values and events as the ...Details calls.
func TestEppoKeysWithNULTakeTheJSONPath(t *testing.T) {
	logger := &recordingLogger{}
	c := eppoClient(t, "flags-v1.json", logger)
	const subject = "a\x00b"
	us := Attributes{"country": "US"}
	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %#v, %v; want %#v", what, got, err, want)
		}
		// One event from the typed call, one from the ...Details call.
		events := logger.take()
		if len(events) != 2 || events[0].Subject != subject {
			t.Fatalf("%s: events %+v", what, events)
		}
		events[0].Timestamp, events[1].Timestamp = "", ""
		if !reflect.DeepEqual(events[0], events[1]) {
			t.Fatalf("%s: event %+v, details %+v", what, events[0], events[1])
		}
	}
	s, err := c.GetStringAssignment("start-and-end-date-test", subject, Attributes{"version": "1.0.0"}, "d")
	sd, _ := c.GetStringAssignmentDetails("start-and-end-date-test", subject, Attributes{"version": "1.0.0"}, "d")
	check("string", s, "current", err)
	if sd.Variation != "current" || sd.Code != CodeMatch {
		t.Fatalf("string details: %+v", sd)
	}
	b, err := c.GetBooleanAssignment("kill-switch", subject, us, false)
	c.GetBooleanAssignmentDetails("kill-switch", subject, us, false)
	check("boolean", b, true, err)
	n, err := c.GetNumericAssignment("numeric_flag", subject, us, 0)
	c.GetNumericAssignmentDetails("numeric_flag", subject, us, 0)
	check("numeric", n, 3.1415926, err)
	i, err := c.GetIntegerAssignment("integer-flag", subject, nil, 0)
	id, _ := c.GetIntegerAssignmentDetails("integer-flag", subject, nil, 0)
	check("integer", i, id.Variation, err)
	if i < 1 || i > 3 {
		t.Fatalf("integer: %d", i)
	}
	js, err := c.GetJSONAssignment("json-config-flag", subject, nil, nil)
	jd, _ := c.GetJSONAssignmentDetails("json-config-flag", subject, nil, nil)
	check("json", js, jd.Variation, err)
	if _, ok := js.(map[string]any); !ok {
		t.Fatalf("json: %#v", js)
	}
	def := map[string]any{"d": 1.0}
	if v, err := c.GetJSONAssignment("no\x00flag", "s", nil, def); err != nil || !reflect.DeepEqual(v, def) {
		t.Fatalf("unknown flag: %#v, %v", v, err)
	}
	if events := logger.take(); len(events) != 0 {
		t.Fatalf("events without a match: %+v", events)
	}
}

// A json.Number or json.RawMessage attribute that is not JSON is ErrInvalidJSON on both
// paths, for Eppo subjects and Amplitude users alike.
func TestValuesThatAreNotJSONAreInvalidJSON(t *testing.T) {
	c := eppoClient(t, "flags-v1.json", nil)
	for _, bad := range []any{json.Number("x"), json.RawMessage("{")} {
		attrs := Attributes{"n": bad}
		if _, err := c.GetStringAssignment("new-user-onboarding", "3", attrs, "d"); !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("fast lane: %v", err)
		}
		if _, err := c.GetStringAssignmentDetails("new-user-onboarding", "3", attrs, "d"); !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("JSON path: %v", err)
		}
		local := offlineClient(t, json.RawMessage(`[]`))
		user := User{UserProperties: map[string]any{"n": bad}}
		if _, err := local.Evaluate(user); !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("Evaluate: %v", err)
		}
		if _, err := local.EvaluateWithOptions(user, WithTracksExposure(false)); !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("EvaluateWithOptions (JSON path): %v", err)
		}
	}
}
