//go:build allot_static

package allot

import (
	"os"
	"strings"
	"testing"
)

// Built with -tags allot_static, the test binary carries the library itself: no
// liballot shared object is mapped, and it still evaluates.
func TestStaticLinkNeedsNoSharedLibrary(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	if strings.Contains(string(maps), "liballot.so") {
		t.Fatal("liballot.so is mapped into a statically linked binary")
	}
	c := offlineClient(t, []byte(flagsFor(1)))
	v, err := c.Evaluate(User{UserID: "u"})
	if err != nil || v["release"].Key != "v1" {
		t.Fatalf("%v, %v", v, err)
	}
}
