//go:build !allot_static

package allot

// The default build links the shared library (liballot.so / liballot.dylib) found
// through pkg-config: the packaged library installs allot.pc; in a source checkout,
// `make` writes target/allot.pc and the Makefile's Go targets point PKG_CONFIG_PATH at it.

// #cgo pkg-config: allot
import "C"
