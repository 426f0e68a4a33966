//go:build allot_static

package allot

// With -tags allot_static the library is linked statically (liballot.a) through
// allot-static.pc, for a single binary that needs no liballot.so at run time.

// #cgo pkg-config: allot-static
import "C"
