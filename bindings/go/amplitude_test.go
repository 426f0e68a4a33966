package allot

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

type corpus struct {
	Flags json.RawMessage `json:"flags"`
	Cases []struct {
		User     json.RawMessage           `json:"user"`
		FlagKeys []string                  `json:"flag_keys"`
		Expected map[string]map[string]any `json:"expected"`
	} `json:"cases"`
}

// asDocument is a Variant as the corpus writes it: only the members that are present.
func asDocument(v Variant) map[string]any {
	doc := map[string]any{"key": v.Key}
	if v.Value != "" {
		doc["value"] = v.Value
	}
	if v.Payload != nil {
		doc["payload"] = v.Payload
	}
	if v.Metadata != nil {
		doc["metadata"] = v.Metadata
	}
	return doc
}

// runCorpus evaluates every case through the Go API and compares key, value, payload
// and metadata exactly. It returns the number of variants compared.
func runCorpus(t *testing.T, c *LocalClient, cases corpus) int {
	t.Helper()
	compared, failures := 0, 0
	for i, tc := range cases.Cases {
		var user User
		if err := json.Unmarshal(tc.User, &user); err != nil {
			t.Fatalf("case %d: user: %v", i, err)
		}
		got, err := c.Evaluate(user, tc.FlagKeys...)
		if err != nil {
			t.Fatalf("case %d: Evaluate: %v", i, err)
		}
		gotKeys := make([]string, 0, len(got))
		for k := range got {
			gotKeys = append(gotKeys, k)
		}
		wantKeys := make([]string, 0, len(tc.Expected))
		for k := range tc.Expected {
			wantKeys = append(wantKeys, k)
		}
		sort.Strings(gotKeys)
		sort.Strings(wantKeys)
		if !reflect.DeepEqual(gotKeys, wantKeys) {
			t.Errorf("case %d: flags %v, want %v", i, gotKeys, wantKeys)
			failures++
		}
		for key, want := range tc.Expected {
			v, ok := got[key]
			if !ok {
				continue
			}
			compared++
			if doc := asDocument(v); !reflect.DeepEqual(doc, want) {
				failures++
				if failures <= 10 {
					t.Errorf("case %d, flag %s:\n got  %v\n want %v", i, key, doc, want)
				}
			}
		}
	}
	if failures > 0 {
		t.Fatalf("%d mismatches", failures)
	}
	return compared
}

func TestAmplitudeConformanceCorpus(t *testing.T) {
	var cases corpus
	readJSON(t, sharedPath("conformance/amplitude/generated_corpus.json"), &cases)
	c := offlineClient(t, cases.Flags)
	n := runCorpus(t, c, cases)
	if len(cases.Cases) != 300 || n != 12542 {
		t.Fatalf("compared %d variants in %d cases; the corpus has 12,542 in 300", n, len(cases.Cases))
	}
}

func TestAmplitudeDependenciesFixture(t *testing.T) {
	var cases corpus
	readJSON(t, sharedPath("conformance/amplitude/dependencies_fixture.json"), &cases)
	c := offlineClient(t, cases.Flags)
	if n := runCorpus(t, c, cases); n == 0 || len(cases.Cases) != 6 {
		t.Fatalf("compared %d variants in %d cases", n, len(cases.Cases))
	}
}

func TestMurmur3Vectors(t *testing.T) {
	var vectors struct {
		Vectors []struct {
			Input string `json:"input"`
			Seed  uint32 `json:"seed"`
			Hash  uint32 `json:"hash"`
		} `json:"vectors"`
	}
	readJSON(t, sharedPath("conformance/amplitude/murmur3_vectors.json"), &vectors)
	for _, v := range vectors.Vectors {
		got, err := Murmur3(v.Input, v.Seed)
		if err != nil || got != v.Hash {
			t.Fatalf("Murmur3(%q, %d) = %d, %v; want %d", v.Input, v.Seed, got, err, v.Hash)
		}
	}
	if len(vectors.Vectors) < 2000 {
		t.Fatalf("only %d vectors", len(vectors.Vectors))
	}
}

func exampleFlagsPath() string { return repoRoot + "/examples/flags/flags.json" }

func TestLocalClientLifecycleAndStatus(t *testing.T) {
	c, err := NewLocalClient("key", LocalConfig{FlagsPath: exampleFlagsPath()})
	if err != nil {
		t.Fatal(err)
	}
	// Before Start: a not_started error, and a status that says so.
	_, err = c.Evaluate(User{UserID: "u"})
	if !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Evaluate before Start: %v, want ErrNotStarted", err)
	}
	st, err := c.Status()
	if err != nil || st.Started || st.Provider != "amplitude" || st.Mode != "local" {
		t.Fatalf("status before start: %+v, %v", st, err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil { // harmless the second time
		t.Fatal(err)
	}
	st, err = c.Status()
	if err != nil || !st.Started || !st.Initialized || st.FlagCount != 5 || st.Source != "bootstrap" || len(st.Raw) == 0 {
		t.Fatalf("status after start: %+v, %v", st, err)
	}
	// Only the requested flag and its dependency (the holdout) come back.
	user := User{UserID: "user-2002", DeviceID: "d-2002", Country: "United States", Version: "2.3.1",
		UserProperties: map[string]any{"plan": "free"}}
	got, err := c.Evaluate(user, "onboarding-v2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["onboarding-v2"].Key != "guided-tour" || got["holdout-2026"].Key != "on" {
		t.Fatalf("onboarding-v2 for user 2: %+v", got)
	}
	steps := got["onboarding-v2"].Payload.(map[string]any)["steps"].([]any)
	if len(steps) != 3 || steps[0] != "profile" {
		t.Fatalf("payload: %#v", got["onboarding-v2"].Payload)
	}
	if got["onboarding-v2"].Metadata["flagVersion"] != float64(4) {
		t.Fatalf("metadata: %#v", got["onboarding-v2"].Metadata)
	}
	// A default variant: no value, metadata default=true.
	all, err := c.Evaluate(User{UserID: "user-3003", DeviceID: "d-3003", Country: "Canada", Version: "1.4.0",
		UserProperties: map[string]any{"plan": "team"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := all["new-checkout"]; v.Key != "off" || v.Value != "" || !v.IsDefault() {
		t.Fatalf("default variant: %+v", v)
	}
	if v := all["pricing-page-experiment"]; v.IsDefault() || v.Value != "control" {
		t.Fatalf("non-default variant: %+v", v)
	}
	// An unknown flag key: no variant, no error.
	none, err := c.Evaluate(user, "no-such-flag")
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown flag: %v, %v", none, err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Evaluate": func() error { _, err := c.Evaluate(user); return err },
		"Status":   func() error { _, err := c.Status(); return err },
		"Start":    func() error { return c.Start(context.Background()) },
	} {
		if err := call(); !errors.Is(err, ErrUnknownHandle) {
			t.Errorf("%s after Close: %v, want ErrUnknownHandle", name, err)
		}
	}
}

func TestErrorsAreTypedAndMatchSentinels(t *testing.T) {
	// Unknown configuration field → invalid_config (the flags path does not exist).
	_, err := NewLocalClient("key", LocalConfig{FlagsPath: "/no/such/flags.json"})
	var e *Error
	if !errors.As(err, &e) || e.Code != "invalid_config" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("missing flags file: %#v", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Fatal("an invalid_config error matched ErrTimeout")
	}
	if !strings.HasPrefix(err.Error(), "allot: invalid_config: ") {
		t.Fatalf("message: %q", err.Error())
	}
	// Invalid flag JSON → invalid_json; a dependency cycle → dependency_cycle.
	_, err = NewLocalClient("key", LocalConfig{Flags: json.RawMessage(`[{"key":`)})
	if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("truncated flags: %v", err)
	}
	cycle := `[{"key":"a","dependencies":["b"],"variants":{},"segments":[]},{"key":"b","dependencies":["a"],"variants":{},"segments":[]}]`
	_, err = NewLocalClient("key", LocalConfig{Flags: json.RawMessage(cycle)})
	if !errors.Is(err, ErrDependencyCycle) || !strings.Contains(err.Error(), "->") {
		t.Fatalf("cycle: %v", err)
	}
	// A wrong server zone is rejected by the library, never sent anywhere.
	_, err = NewLocalClient("key", LocalConfig{ServerZone: "mars"})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("server zone: %v", err)
	}
	// A request over the 1 MiB cap.
	c := offlineClient(t, json.RawMessage(`[]`))
	_, err = c.Evaluate(User{UserID: strings.Repeat("x", 2<<20)})
	if !errors.Is(err, ErrInputTooLarge) {
		t.Fatalf("huge user: %v", err)
	}
	// The key never appears in an error.
	_, err = NewLocalClient("server-secret-key-123", LocalConfig{ServerURL: "ftp://example.invalid"})
	if err == nil || strings.Contains(err.Error(), "server-secret-key-123") {
		t.Fatalf("bad server url: %v", err)
	}
}

func TestUserEncodingMatchesEncodingJSON(t *testing.T) {
	tricky := []string{"", "plain", `quote " backslash \ slash /`, "new\nline\ttab\r", "\x00\x01\x1f",
		"<html>&amp;", "é ü 日本 🎉", "bad \xff utf8", "line\u2028sep\u2029", "emoji\U0001F600"}
	for i, s := range tricky {
		u := User{
			UserID: s, DeviceID: "d" + s, Country: s, City: s, Region: s, DMA: s, Language: s, Platform: s,
			Version: s, OS: s, DeviceManufacturer: s, DeviceBrand: s, DeviceModel: s, Carrier: s, Library: s, IPAddress: s,
			UserProperties: map[string]any{s: s, "n": 1.5, "i": 42, "big": 1e21, "small": 1e-7, "b": true, "nil": nil,
				"list": []any{s, 2, false}, "strs": []string{s}, "obj": map[string]any{"k": s}},
			Groups:          map[string][]string{"org": {s}, "empty": {}},
			GroupProperties: map[string]map[string]map[string]any{"org": {s: {"tier": s}}},
			CohortIDs:       []string{s, "c1"},
			GroupCohortIDs:  map[string]map[string][]string{"org": {s: {"c2"}}},
		}
		fast := appendUser(nil, &u)
		slow, err := json.Marshal(&u)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(fast, &a); err != nil {
			t.Fatalf("%d: invalid JSON %s: %v", i, fast, err)
		}
		if err := json.Unmarshal(slow, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%d: fast %s\nslow %s", i, fast, slow)
		}
	}
}

func TestNilGroupNamesEncodeAsEmptyList(t *testing.T) {
	// The library wants a list of names per group type; nil must not become null.
	got := string(appendUser(nil, &User{Groups: map[string][]string{"org": nil}}))
	if got != `{"groups":{"org":[]}}` {
		t.Fatalf("got %s", got)
	}
	c := offlineClient(t, json.RawMessage(`[]`))
	if _, err := c.Evaluate(User{Groups: map[string][]string{"org": nil}}); err != nil {
		t.Fatal(err)
	}
}

func TestCookies(t *testing.T) {
	name, err := AmplitudeCookieName("1234567890abcdef", false)
	if err != nil || name != "amp_123456" {
		t.Fatalf("classic name: %q, %v", name, err)
	}
	name, err = AmplitudeCookieName("1234567890abcdef", true)
	if err != nil || name != "AMP_1234567890" {
		t.Fatalf("new name: %q, %v", name, err)
	}
	if _, err := AmplitudeCookieName("short", true); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short key: %v", err)
	}
	value, err := GenerateAmplitudeCookie("someDeviceId", true)
	if err != nil || value != "JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjAlMjJzb21lRGV2aWNlSWQlMjIlN0Q=" {
		t.Fatalf("generate: %q, %v", value, err)
	}
	u, err := ParseAmplitudeCookie(value, true)
	if err != nil || u.DeviceID != "someDeviceId" || u.UserID != "" {
		t.Fatalf("parse new: %+v, %v", u, err)
	}
	classic, err := GenerateAmplitudeCookie("dev-1", false)
	if err != nil || classic != "dev-1.........." {
		t.Fatalf("classic generate: %q, %v", classic, err)
	}
	u, err = ParseAmplitudeCookie("dev-2.dXNlckBleGFtcGxlLmNvbQ==....", false)
	if err != nil || u.DeviceID != "dev-2" || u.UserID != "user@example.com" {
		t.Fatalf("parse classic: %+v, %v", u, err)
	}
	u, err = ParseAmplitudeCookie("%%%not-base64", true)
	if err != nil || !reflect.DeepEqual(u, User{}) {
		t.Fatalf("parse garbage: %+v, %v", u, err)
	}
}

func TestVersion(t *testing.T) {
	v := Version()
	if v == "" || strings.Count(v, ".") < 2 {
		t.Fatalf("Version() = %q", v)
	}
}

// Variants decode field by field as a generic encoding/json decode sees them (a
// non-string value as its JSON text), on the first 100 results of the corpus and on
// documents with escapes, odd numbers and null members; malformed documents are errors.
func TestVariantDecoding(t *testing.T) {
	tricky := `{"variants":{"a\"b":{"key":"k\u00e9\ud83d\ude00","value":"v\n\t\\","payload":[1,-2.5e3,1E-7,true,null,{"x":[]},"\u2028"],"metadata":{"n":12345678901234567890,"s":"\ud800"}},"num":{"key":"n","value":42},"obj":{"key":"o","value":{"a": 1}},"nul":{"key":"z","value":null,"payload":null,"metadata":null}}}`
	got, err := decodeVariants([]byte(tricky))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Variant{
		`a"b`: {Key: "k\u00e9\U0001F600", Value: "v\n\t\\",
			Payload:  []any{1.0, -2500.0, 1e-7, true, nil, map[string]any{"x": []any{}}, "\u2028"},
			Metadata: map[string]any{"n": 12345678901234567890.0, "s": "\uFFFD"}},
		"num": {Key: "n", Value: "42"},
		"obj": {Key: "o", Value: `{"a": 1}`},
		"nul": {Key: "z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tricky document:\ngot  %#v\nwant %#v", got, want)
	}
	for _, empty := range []string{` { "variants" : { } } `, `{}`} {
		if got, err := decodeVariants([]byte(empty)); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("%s: %#v, %v", empty, got, err)
		}
	}

	var cases corpus
	readJSON(t, sharedPath("conformance/amplitude/generated_corpus.json"), &cases)
	c := offlineClient(t, cases.Flags)
	id, _ := c.h.get()
	compared := 0
	for _, tc := range cases.Cases[:100] {
		var u User
		json.Unmarshal(tc.User, &u)
		req, _ := json.Marshal(map[string]any{"user": &u})
		doc, err := nativeEvaluate(id, req)
		if err != nil {
			t.Fatal(err)
		}
		variants, err := decodeVariants(doc)
		if err != nil {
			t.Fatal(err)
		}
		var generic struct {
			Variants map[string]map[string]any `json:"variants"`
		}
		if err := json.Unmarshal(doc, &generic); err != nil {
			t.Fatal(err)
		}
		if len(variants) != len(generic.Variants) {
			t.Fatalf("%d variants, %d in the document", len(variants), len(generic.Variants))
		}
		for flag, g := range generic.Variants {
			v := variants[flag]
			value := ""
			switch gv := g["value"].(type) {
			case string:
				value = gv
			case nil:
			default:
				text, _ := json.Marshal(gv)
				value = string(text)
			}
			metadata, _ := g["metadata"].(map[string]any)
			if v.Key != g["key"] || v.Value != value || !reflect.DeepEqual(v.Payload, g["payload"]) || !reflect.DeepEqual(v.Metadata, metadata) {
				t.Fatalf("%s: %#v, document %#v", flag, v, g)
			}
			compared++
		}
	}
	if compared == 0 {
		t.Fatal("nothing compared")
	}
	for _, bad := range []string{``, `{`, `{"variants":{"a":{"key":}}}`, `{"variants":{"a":{"key":"x"}}} x`,
		`{"variants":{"a":{"key":"x","payload":[1,]}}}`, `{"variants":{"a":{"key":"\x01"}}}`, `{"variants":{"a":{"key":"x","metadata":[1]}}}`,
		`{"variants":{"a":{"key":"x","payload":tru}}}`, `{"variants":{"a":{"key":"\u12"}}}`} {
		if _, err := decodeVariants([]byte(bad)); !errors.Is(err, ErrInternal) {
			t.Errorf("%q: %v, want an internal error", bad, err)
		}
	}
}

func TestReturnedVariantsAreIndependentCopies(t *testing.T) {
	flags := json.RawMessage(`[{"key":"f","metadata":{"flagVersion":3},
		"variants":{"on":{"key":"on","value":"on","payload":{"list":[1,2]}}},
		"segments":[{"variant":"on"}]}]`)
	c := offlineClient(t, flags)
	// The fast lane, and the JSON path (a tracking option) with its own cache.
	paths := map[string]func() (map[string]Variant, error){
		"Evaluate": func() (map[string]Variant, error) { return c.Evaluate(User{UserID: "u"}) },
		"JSON path": func() (map[string]Variant, error) {
			return c.EvaluateWithOptions(User{UserID: "u"}, WithTracksExposure(false))
		},
	}
	for path, evaluate := range paths {
		first, err := evaluate()
		if err != nil {
			t.Fatal(err)
		}
		first["f"].Metadata["flagVersion"] = "changed"
		first["f"].Payload.(map[string]any)["list"].([]any)[0] = "changed"
		second, err := evaluate()
		if err != nil {
			t.Fatal(err)
		}
		if second["f"].Metadata["flagVersion"] != float64(3) {
			t.Fatalf("%s: metadata shared between calls: %v", path, second["f"].Metadata)
		}
		if second["f"].Payload.(map[string]any)["list"].([]any)[0] != float64(1) {
			t.Fatalf("%s: payload shared between calls: %v", path, second["f"].Payload)
		}
	}
}
