package allot

import (
	"encoding/json"
	"testing"
)

func benchClient(b *testing.B) (*LocalClient, []User) {
	var cases corpus
	readJSON(b, sharedPath("conformance/amplitude/generated_corpus.json"), &cases)
	c := offlineClient(b, cases.Flags)
	users := make([]User, 0, 32)
	for _, tc := range cases.Cases[:32] {
		var u User
		if err := json.Unmarshal(tc.User, &u); err != nil {
			b.Fatal(err)
		}
		users = append(users, u)
	}
	return c, users
}

// One flag for one user, through the Go API (encode, cgo call, decode).
func BenchmarkEvaluateOneFlag(b *testing.B) {
	c, users := benchClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Evaluate(users[i%len(users)], "flag-1-0"); err != nil {
			b.Fatal(err)
		}
	}
}

// All 60 flags of the generated corpus for one user.
func BenchmarkEvaluateAllFlags(b *testing.B) {
	c, users := benchClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Evaluate(users[i%len(users)]); err != nil {
			b.Fatal(err)
		}
	}
}

// One flag, from every core at once.
func BenchmarkEvaluateOneFlagParallel(b *testing.B) {
	c, users := benchClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Evaluate(users[i%len(users)], "flag-1-0"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// One typed Eppo assignment (a STRING flag with rules and shards), logger included.
func BenchmarkEppoStringAssignment(b *testing.B) {
	logger := AssignmentLoggerFunc(func(AssignmentEvent) {})
	c := eppoClient(b, "flags-v1.json", logger)
	attrs := Attributes{"country": "UK", "age": 33}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, err := c.GetStringAssignment("new-user-onboarding", "3", attrs, "default"); err != nil || v != "control" {
			b.Fatal(v, err)
		}
	}
}

// The same assignment with no logger configured (no event is decoded).
func BenchmarkEppoStringAssignmentNoLogger(b *testing.B) {
	c := eppoClient(b, "flags-v1.json", nil)
	attrs := Attributes{"country": "UK", "age": 33}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, err := c.GetStringAssignment("new-user-onboarding", "3", attrs, "default"); err != nil || v != "control" {
			b.Fatal(v, err)
		}
	}
}

// A STRING assignment that needs no attributes (empty_string_flag), logger included.
func BenchmarkEppoStringAssignmentNoAttributes(b *testing.B) {
	logger := AssignmentLoggerFunc(func(AssignmentEvent) {})
	c := eppoClient(b, "flags-v1.json", logger)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, err := c.GetStringAssignment("empty_string_flag", "bob", nil, "default"); err != nil || v != "non_empty" {
			b.Fatal(v, err)
		}
	}
}

// The same without a logger.
func BenchmarkEppoStringAssignmentNoAttributesNoLogger(b *testing.B) {
	c := eppoClient(b, "flags-v1.json", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v, err := c.GetStringAssignment("empty_string_flag", "bob", nil, "default"); err != nil || v != "non_empty" {
			b.Fatal(v, err)
		}
	}
}

func fixtureClient(b *testing.B) (*LocalClient, User, string) {
	var cases corpus
	readJSON(b, sharedPath("conformance/amplitude/dependencies_fixture.json"), &cases)
	c := offlineClient(b, cases.Flags)
	var u User
	if err := json.Unmarshal(cases.Cases[0].User, &u); err != nil {
		b.Fatal(err)
	}
	var flags []struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(cases.Flags, &flags); err != nil {
		b.Fatal(err)
	}
	return c, u, flags[0].Key
}

// The 6 flags of the dependency fixture, all of them, for one user.
func BenchmarkEvaluateSixFlags(b *testing.B) {
	c, u, _ := fixtureClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Evaluate(u); err != nil {
			b.Fatal(err)
		}
	}
}

// One flag of the dependency fixture.
func BenchmarkEvaluateSixFlagsOneFlag(b *testing.B) {
	c, u, key := fixtureClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Evaluate(u, key); err != nil {
			b.Fatal(err)
		}
	}
}
