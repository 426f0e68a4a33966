package allot

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

// jsonPathVariants evaluates through allot_evaluate (the JSON path).
func jsonPathVariants(t *testing.T, c *LocalClient, user *User, keys []string) map[string]Variant {
	t.Helper()
	id, err := c.h.get()
	if err != nil {
		t.Fatal(err)
	}
	variants, err := evaluateJSON(id, user, keys, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return variants
}

func TestFastLaneMatchesTheJSONPathOnTheCorpusAndFixture(t *testing.T) {
	for _, file := range []string{"generated_corpus.json", "dependencies_fixture.json"} {
		var cases corpus
		readJSON(t, sharedPath("conformance/amplitude/"+file), &cases)
		c := offlineClient(t, cases.Flags)
		compared := 0
		for i, tc := range cases.Cases {
			var u User
			if err := json.Unmarshal(tc.User, &u); err != nil {
				t.Fatal(err)
			}
			fast, err := c.Evaluate(u, tc.FlagKeys...)
			if err != nil {
				t.Fatalf("%s case %d: %v", file, i, err)
			}
			if want := jsonPathVariants(t, c, &u, tc.FlagKeys); !reflect.DeepEqual(fast, want) {
				t.Fatalf("%s case %d: fast lane %#v, JSON path %#v", file, i, fast, want)
			}
			compared += len(fast)
		}
		if compared == 0 {
			t.Fatalf("%s: nothing compared", file)
		}
	}
}

func TestMutatingReturnedVariantsNeverChangesLaterResults(t *testing.T) {
	var cases corpus
	readJSON(t, sharedPath("conformance/amplitude/dependencies_fixture.json"), &cases)
	c := offlineClient(t, cases.Flags)
	var u User
	if err := json.Unmarshal(cases.Cases[0].User, &u); err != nil {
		t.Fatal(err)
	}
	first, err := c.Evaluate(u)
	if err != nil || len(first) == 0 {
		t.Fatalf("%v %v", first, err)
	}
	want := jsonPathVariants(t, c, &u, nil)
	for flag, v := range first {
		for k := range v.Metadata {
			v.Metadata[k] = "mutated"
		}
		v.Metadata["added"] = true
		if m, ok := v.Payload.(map[string]any); ok {
			m["added"] = true
		}
		if a, ok := v.Payload.([]any); ok && len(a) > 0 {
			a[0] = "mutated"
		}
		v.Key = "mutated"
		first[flag] = v
	}
	again, err := c.Evaluate(u)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("after mutation: %#v, want %#v", again, want)
	}
}

// The typed assignments (fast lane) log the same events as the ...Details calls (JSON
// path) over the whole Eppo suite, plain and obfuscated.
func TestFastLaneEventsMatchTheJSONPath(t *testing.T) {
	for _, file := range []string{"flags-v1.json", "flags-v1-obfuscated.json"} {
		logger := &recordingLogger{}
		c := eppoClient(t, file, logger)
		cases := eppoCases(t)
		names := make([]string, 0, len(cases))
		for name := range cases {
			names = append(names, name)
		}
		sort.Strings(names)
		events := 0
		for _, name := range names {
			tc := cases[name]
			for _, s := range tc.Subjects {
				if _, err := plainAssign(c, tc, s.SubjectKey, s.SubjectAttributes); err != nil {
					t.Fatal(err)
				}
				fast := logger.take()
				if _, _, _, _, _, err := assignTyped(c, tc, s.SubjectKey, s.SubjectAttributes); err != nil {
					t.Fatal(err)
				}
				slow := logger.take()
				if len(fast) != len(slow) {
					t.Fatalf("%s/%s: %d events, JSON path %d", name, s.SubjectKey, len(fast), len(slow))
				}
				for i := range fast {
					if fast[i].Timestamp == "" {
						t.Fatalf("%s/%s: no timestamp", name, s.SubjectKey)
					}
					fast[i].Timestamp, slow[i].Timestamp = "", ""
					if !reflect.DeepEqual(fast[i], slow[i]) {
						t.Fatalf("%s/%s: event %#v, JSON path %#v", name, s.SubjectKey, fast[i], slow[i])
					}
				}
				events += len(fast)
			}
		}
		if events == 0 {
			t.Fatalf("%s: no events compared", file)
		}
	}
}
