// Command bench compares allot's Go binding with the vendors' own Go SDKs on the same
// flags, in the same process: Amplitude's experiment-go-server local evaluation and
// Eppo's golang-sdk. Run it with `make bench-go`, which fetches the vendor SDKs from the
// Go module proxy into a throw-away module file and builds with -tags vendors; without
// that tag only allot's figures are printed.
//
// It is a separate module so that the bindings themselves keep zero dependencies.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	allot "github.com/allot/allot/bindings/go"
)

// fixtures are the flags and users every contender evaluates.
type fixtures struct {
	amplitudeFlags json.RawMessage   // the 60-flag generated corpus
	users          []json.RawMessage // users from the corpus cases
	oneFlag        string            // the flag of the one-flag benchmark
	eppoUFC        []byte            // Eppo's public test configuration
	eppoFlag       string
	eppoSubject    string
	eppoAttributes map[string]any
	eppoWant       string
}

// contender is one implementation's benchmarks; nil means not measured.
type contender struct {
	name     string
	oneFlag  func(b *testing.B)
	allFlags func(b *testing.B)
	eppo     func(b *testing.B)
}

// vendorSetup is set by vendors.go (build tag "vendors").
var vendorSetup func(f *fixtures) ([]contender, error)

func sharedDir() string {
	if dir := os.Getenv("ALLOT_SHARED_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "..", "..", "shared")
}

func loadFixtures() (*fixtures, error) {
	var corpus struct {
		Flags json.RawMessage `json:"flags"`
		Cases []struct {
			User json.RawMessage `json:"user"`
		} `json:"cases"`
	}
	data, err := os.ReadFile(filepath.Join(sharedDir(), "conformance/amplitude/generated_corpus.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		return nil, err
	}
	f := &fixtures{amplitudeFlags: corpus.Flags, oneFlag: "flag-1-0",
		eppoFlag: "new-user-onboarding", eppoSubject: "3",
		eppoAttributes: map[string]any{"country": "UK", "age": 33}, eppoWant: "control"}
	for _, c := range corpus.Cases[:32] {
		f.users = append(f.users, c.User)
	}
	f.eppoUFC, err = os.ReadFile(filepath.Join(sharedDir(), "conformance/eppo/flags-v1.json"))
	return f, err
}

func allotContender(f *fixtures) (contender, func(), error) {
	local, err := allot.NewLocalClient("bench-key", allot.LocalConfig{Flags: f.amplitudeFlags})
	if err != nil {
		return contender{}, nil, err
	}
	if err := local.Start(context.Background()); err != nil {
		return contender{}, nil, err
	}
	users := make([]allot.User, len(f.users))
	for i, raw := range f.users {
		if err := json.Unmarshal(raw, &users[i]); err != nil {
			return contender{}, nil, err
		}
	}
	eppo, err := allot.NewEppoClient(allot.EppoConfig{APIKey: "bench-key", InitialConfiguration: f.eppoUFC,
		DisablePolling: true, AssignmentLogger: allot.AssignmentLoggerFunc(func(allot.AssignmentEvent) {})})
	if err != nil {
		return contender{}, nil, err
	}
	attrs := allot.Attributes(f.eppoAttributes)
	if v, err := eppo.GetStringAssignment(f.eppoFlag, f.eppoSubject, attrs, "default"); err != nil || v != f.eppoWant {
		return contender{}, nil, fmt.Errorf("allot eppo sanity check: %q, %v", v, err)
	}
	c := contender{
		name: "allot",
		oneFlag: func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := local.Evaluate(users[i%len(users)], f.oneFlag); err != nil {
					b.Fatal(err)
				}
			}
		},
		allFlags: func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := local.Evaluate(users[i%len(users)]); err != nil {
					b.Fatal(err)
				}
			}
		},
		eppo: func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := eppo.GetStringAssignment(f.eppoFlag, f.eppoSubject, attrs, "default"); err != nil {
					b.Fatal(err)
				}
			}
		},
	}
	return c, func() { local.Close(); eppo.Close() }, nil
}

func nsPerOp(fn func(b *testing.B)) float64 {
	if fn == nil {
		return 0
	}
	r := testing.Benchmark(fn)
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func main() {
	testing.Init()
	f, err := loadFixtures()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	mine, closeAll, err := allotContender(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer closeAll()
	var others []contender
	if vendorSetup != nil {
		if others, err = vendorSetup(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench: vendor SDKs:", err)
			os.Exit(1)
		}
	}
	rows := []struct {
		name string
		pick func(contender) func(*testing.B)
	}{
		{"Amplitude, one flag, one user", func(c contender) func(*testing.B) { return c.oneFlag }},
		{"Amplitude, all 60 flags, one user", func(c contender) func(*testing.B) { return c.allFlags }},
		{"Eppo, one STRING assignment (logger on)", func(c contender) func(*testing.B) { return c.eppo }},
	}
	fmt.Printf("allot %s, Go binding; per call, same flags, same process\n\n", allot.Version())
	fmt.Printf("%-42s %12s %14s %22s %10s\n", "benchmark", "allot", "vendor SDK", "vendor", "ratio")
	for _, row := range rows {
		a := nsPerOp(row.pick(mine))
		printed := false
		for _, o := range others {
			fn := row.pick(o)
			if fn == nil {
				continue
			}
			v := nsPerOp(fn)
			fmt.Printf("%-42s %9.2f µs %11.2f µs %22s %9.1f×\n", row.name, a/1000, v/1000, o.name, v/a)
			printed = true
		}
		if !printed {
			fmt.Printf("%-42s %9.2f µs %14s %22s %10s\n", row.name, a/1000, "-", "-", "-")
		}
	}
	if len(others) == 0 {
		fmt.Println("\nvendor SDKs not built in: `make bench-go` adds them with -tags vendors when the Go module proxy serves them")
	} else {
		fmt.Println("\nratio = vendor time / allot time (above 1: allot is faster)")
	}
}
