package allot

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type banditCaseAttributes struct {
	Numeric     map[string]any `json:"numericAttributes"`
	Categorical map[string]any `json:"categoricalAttributes"`
}

type banditCase struct {
	Flag         string `json:"flag"`
	DefaultValue string `json:"defaultValue"`
	Subjects     []struct {
		SubjectKey        string               `json:"subjectKey"`
		SubjectAttributes banditCaseAttributes `json:"subjectAttributes"`
		Actions           []struct {
			ActionKey string `json:"actionKey"`
			banditCaseAttributes
		} `json:"actions"`
		Assignment struct {
			Variation string  `json:"variation"`
			Action    *string `json:"action"`
		} `json:"assignment"`
	} `json:"subjects"`
}

// contextOf converts the suite's loosely typed attributes into ContextAttributes: numbers
// are numeric attributes; categorical numbers and booleans become their text ("303",
// "true"), as Eppo matches them; nulls and mistyped numeric values are left out.
func contextOf(a banditCaseAttributes) ContextAttributes {
	c := ContextAttributes{NumericAttributes: map[string]float64{}, CategoricalAttributes: map[string]string{}}
	for k, v := range a.Numeric {
		if f, ok := v.(float64); ok {
			c.NumericAttributes[k] = f
		}
	}
	for k, v := range a.Categorical {
		switch v := v.(type) {
		case string:
			c.CategoricalAttributes[k] = v
		case float64:
			c.CategoricalAttributes[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			c.CategoricalAttributes[k] = strconv.FormatBool(v)
		}
	}
	return c
}

type banditRecorder struct {
	mu          sync.Mutex
	assignments []AssignmentEvent
	bandits     []BanditEvent
}

func (r *banditRecorder) LogAssignment(e AssignmentEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.assignments = append(r.assignments, e)
}

func (r *banditRecorder) LogBanditAction(e BanditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bandits = append(r.bandits, e)
}

func banditClient(t *testing.T, logger AssignmentLogger) *EppoClient {
	t.Helper()
	c, err := NewEppoClient(EppoConfig{
		APIKey:            "sdk-key",
		AssignmentLogger:  logger,
		ConfigurationPath: sharedPath("conformance/eppo/bandit-flags-v1.json"),
		BanditsPath:       sharedPath("conformance/eppo/bandit-models-v1.json"),
	})
	if err != nil {
		t.Fatalf("NewEppoClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBanditPublicCases(t *testing.T) {
	c := banditClient(t, nil)
	dir := sharedPath("conformance/eppo/bandit-tests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) != 10 {
		t.Fatalf("expected the 10 public bandit cases, found %d", len(names))
	}
	subjects := 0
	for _, name := range names {
		var bc banditCase
		readJSON(t, filepath.Join(dir, name), &bc)
		for _, s := range bc.Subjects {
			subjects++
			actions := BanditActions{}
			for _, a := range s.Actions {
				actions[a.ActionKey] = contextOf(a.banditCaseAttributes)
			}
			got, err := c.GetBanditAction(bc.Flag, s.SubjectKey, contextOf(s.SubjectAttributes), actions, bc.DefaultValue)
			if err != nil {
				t.Fatalf("%s %s: %v", name, s.SubjectKey, err)
			}
			want := ""
			if s.Assignment.Action != nil {
				want = *s.Assignment.Action
			}
			if got.Variation != s.Assignment.Variation || got.Action != want {
				t.Errorf("%s %s: got (%q, %q), want (%q, %q)", name, s.SubjectKey, got.Variation, got.Action, s.Assignment.Variation, want)
			}
		}
	}
	if subjects < 30 {
		t.Fatalf("only %d subjects", subjects)
	}
}

func TestBanditEventsReachTheLogger(t *testing.T) {
	recorder := &banditRecorder{}
	c := banditClient(t, recorder)
	subject := ContextAttributes{
		NumericAttributes:     map[string]float64{"age": 25},
		CategoricalAttributes: map[string]string{"country": "USA", "gender_identity": "female"},
	}
	actions := BanditActions{
		"nike":   {NumericAttributes: map[string]float64{"brand_affinity": 1.5}, CategoricalAttributes: map[string]string{"loyalty_tier": "silver"}},
		"adidas": {NumericAttributes: map[string]float64{"brand_affinity": -1.0}, CategoricalAttributes: map[string]string{"loyalty_tier": "bronze"}},
		"reebok": {NumericAttributes: map[string]float64{"brand_affinity": 0.5}, CategoricalAttributes: map[string]string{"loyalty_tier": "gold"}},
	}
	got, err := c.GetBanditActionDetails("banner_bandit_flag", "alice", subject, actions, "default")
	if err != nil {
		t.Fatal(err)
	}
	if got.Variation != "banner_bandit" || got.Action != "nike" || got.BanditKey != "banner_bandit" || got.Code != CodeMatch {
		t.Fatalf("got %+v", got)
	}
	if got.Details.BanditAction == nil || *got.Details.BanditAction != "nike" {
		t.Fatalf("details: %+v", got.Details)
	}
	if len(recorder.assignments) != 1 || recorder.assignments[0].FeatureFlag != "banner_bandit_flag" {
		t.Fatalf("assignment events: %+v", recorder.assignments)
	}
	if len(recorder.bandits) != 1 {
		t.Fatalf("bandit events: %+v", recorder.bandits)
	}
	e := recorder.bandits[0]
	if e.Action != "nike" || e.BanditKey != "banner_bandit" || e.ModelVersion != "123" || e.Subject != "alice" {
		t.Fatalf("bandit event: %+v", e)
	}
	if e.ActionProbability != got.ActionProbability || e.ActionProbability <= 0 || e.ActionProbability > 1 {
		t.Fatalf("probability: event %v, result %v", e.ActionProbability, got.ActionProbability)
	}
	if e.SubjectNumericAttributes["age"] != 25 || e.ActionCategoricalAttributes["loyalty_tier"] != "silver" {
		t.Fatalf("attributes: %+v", e)
	}
	// A non-bandit flag: the variation, no action, no bandit event.
	plain, err := c.GetBanditAction("non_bandit_flag", "alice", subject, actions, "default")
	if err != nil || plain.Variation != "control" || plain.Action != "" {
		t.Fatalf("non-bandit flag: %+v, %v", plain, err)
	}
	if len(recorder.bandits) != 1 {
		t.Fatalf("a non-bandit flag logged a bandit event: %+v", recorder.bandits)
	}
}
