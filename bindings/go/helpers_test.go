package allot

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// repoRoot is the repository root, relative to this package's directory.
const repoRoot = "../.."

// sharedPath is a path under the shared/ directory that sits beside the repository.
func sharedPath(rel string) string {
	if dir := os.Getenv("ALLOT_SHARED_DIR"); dir != "" {
		return filepath.Join(dir, rel)
	}
	return filepath.Join(repoRoot, "..", "shared", rel)
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

// offlineClient starts a local client on a bundled flag configuration.
func offlineClient(t testing.TB, flags json.RawMessage) *LocalClient {
	t.Helper()
	c, err := NewLocalClient("test-key", LocalConfig{Flags: flags})
	if err != nil {
		t.Fatalf("NewLocalClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c
}

func timeoutCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
