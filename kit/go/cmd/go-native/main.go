// go-native: a pool of goroutines decoding with image/jpeg, resizing with x/image/draw,
// encoding with image/jpeg; it also runs the task workloads (pi, count, payload) in pure Go.
// Speaks the worker contract of kit/worker/protocol.py.
package main

import (
	"os"

	"kit/go/internal/jpeglib"
	"kit/go/internal/native"
	"kit/go/internal/worker"
)

func main() {
	os.Exit(worker.Main(worker.Program{
		Strategy: "go-native",
		Pipeline: native.Transform,
		Setup: func() map[string]any {
			return map[string]any{"decoder": "image/jpeg", "resize": "golang.org/x/image/draw area kernel",
				"encoder": "image/jpeg", "jpeg_library": jpeglib.Native()}
		},
		Tasks: true,
	}, os.Args[1:], os.Stdout, os.Stderr))
}
