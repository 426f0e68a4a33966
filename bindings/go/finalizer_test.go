package allot

import (
	"bytes"
	"encoding/json"
	"log"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A client dropped without Close is closed by the finalizer, which logs the omission.
func TestFinalizerLogsAForgottenClose(t *testing.T) {
	var buf lockedBuffer // the finalizer writes from its own goroutine
	original := log.Writer()
	log.SetOutput(&buf)
	defer log.SetOutput(original)
	func() {
		c, err := NewLocalClient("k", LocalConfig{Flags: json.RawMessage(`[]`)})
		if err != nil {
			t.Fatal(err)
		}
		_ = c
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "without Close") {
		if time.Now().After(deadline) {
			t.Fatalf("no finalizer message; log: %q", buf.String())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// A closed client is not reported.
	buf.Reset()
	func() {
		c, _ := NewLocalClient("k", LocalConfig{Flags: json.RawMessage(`[]`)})
		c.Close()
	}()
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if buf.Len() != 0 {
		t.Fatalf("a closed client was reported: %q", buf.String())
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	b.buf.Reset()
	b.mu.Unlock()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
