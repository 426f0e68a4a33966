//go:build vendors

// The vendors' SDKs, on the same flags as allot: the Amplitude corpus served to
// experiment-go-server's local evaluation client, Eppo's test configuration served to
// golang-sdk, both from an httptest server on loopback.

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	eppoclient "github.com/Eppo-exp/golang-sdk/v6/eppoclient"
	"github.com/amplitude/experiment-go-server/pkg/experiment"
	"github.com/amplitude/experiment-go-server/pkg/experiment/local"
)

func init() { vendorSetup = setupVendors }

type noopEppoLogger struct{}

func (noopEppoLogger) LogAssignment(eppoclient.AssignmentEvent) {}

func setupVendors(f *fixtures) ([]contender, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/sdk/v2/flags"):
			w.Write(f.amplitudeFlags)
		case strings.HasSuffix(r.URL.Path, "/flag-config/v1/config"):
			w.Write(f.eppoUFC)
		default:
			http.NotFound(w, r)
		}
	}))

	amp := local.Initialize("bench-key", &local.Config{ServerUrl: srv.URL, FlagConfigPollerInterval: time.Hour})
	if err := amp.Start(); err != nil {
		return nil, fmt.Errorf("experiment-go-server Start: %w", err)
	}
	users := make([]*experiment.User, len(f.users))
	for i, raw := range f.users {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		delete(m, "cohort_ids") // a set in experiment-go-server's User, a list in the corpus
		clean, _ := json.Marshal(m)
		users[i] = &experiment.User{}
		if err := json.Unmarshal(clean, users[i]); err != nil {
			return nil, fmt.Errorf("user %d for experiment-go-server: %w", i, err)
		}
	}
	if v, err := amp.EvaluateV2(users[0], nil); err != nil || len(v) == 0 {
		return nil, fmt.Errorf("experiment-go-server evaluated %d flags (%v): the flags did not load", len(v), err)
	}

	eppo, err := eppoclient.InitClient(eppoclient.Config{SdkKey: "bench-key", BaseUrl: srv.URL,
		AssignmentLogger: noopEppoLogger{}, PollerInterval: time.Hour})
	if err != nil {
		return nil, fmt.Errorf("golang-sdk InitClient: %w", err)
	}
	attrs := eppoclient.Attributes(f.eppoAttributes)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := eppo.GetStringAssignment(f.eppoFlag, f.eppoSubject, attrs, "default")
		if v == f.eppoWant {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("golang-sdk did not load the configuration (got %q)", v)
		}
		time.Sleep(20 * time.Millisecond)
	}

	return []contender{
		{
			name: "experiment-go-server",
			oneFlag: func(b *testing.B) {
				keys := []string{f.oneFlag}
				for i := 0; i < b.N; i++ {
					if _, err := amp.EvaluateV2(users[i%len(users)], keys); err != nil {
						b.Fatal(err)
					}
				}
			},
			allFlags: func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := amp.EvaluateV2(users[i%len(users)], nil); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
		{
			name: "Eppo golang-sdk",
			eppo: func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := eppo.GetStringAssignment(f.eppoFlag, f.eppoSubject, attrs, "default"); err != nil {
						b.Fatal(err)
					}
				}
			},
		},
	}, nil
}
