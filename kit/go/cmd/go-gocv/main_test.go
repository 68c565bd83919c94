package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"strings"
	"testing"

	"kit/go/internal/jpeglib"
	"kit/go/internal/stages"
)

func photo(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), uint8((x + y) / 5), 255})
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

// The cgo calls run on the locked thread, so OpenCV's C++ decode and resize show in the stages;
// resize stays exactly 0 when nothing needs resizing.
func TestTransformLapsOpenCVsDecodeAndResizeOnThisThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct{ w, h int }{{2400, 1800}, {640, 360}} {
		s := stages.StartImages()
		out, err := transform(photo(c.w, c.h), &s)
		if err != nil || len(out) == 0 {
			t.Fatalf("%dx%d: %v", c.w, c.h, err)
		}
		if s.Decode <= 0 || (s.Resize > 0) != (c.w > 1920) || s.Resize < 0 {
			t.Fatalf("%dx%d: stages %+v", c.w, c.h, s)
		}
	}
}

func TestJPEGLibraryIsTheLibjpegTurboOpenCVLoaded(t *testing.T) {
	// This test binary links OpenCV as go-gocv does; every distribution OpenCV the kit builds
	// against (Debian 12, Ubuntu 24.04) loads libjpeg-turbo.
	if got := jpeglib.Identify("/proc/self/maps"); !strings.HasPrefix(got, "libjpeg-turbo ") {
		t.Fatalf("jpeg_library %q", got)
	}
}
