package native

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"testing"

	"golang.org/x/image/draw"

	"kit/go/internal/stages"

	"kit/go/internal/worker"
)

func TestAreaKernelAtAnIntegerFactorIsTheBlockMean(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(src.Pix, []uint8{0, 100, 10, 20, 50, 250, 30, 40})
	dst := image.NewGray(image.Rect(0, 0, 2, 1))
	AreaKernel(2).Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	if got := dst.Pix; got[0] != 100 || got[1] != 25 { // (0+100+50+250)/4, (10+20+30+40)/4
		t.Fatalf("block means: got %v, want [100 25]", got)
	}
}

func TestAreaKernelWeighsPartlyCoveredPixelsByCoverage(t *testing.T) {
	// 3 -> 2 pixels (s = 1.5): output 0 covers source 0 fully and half of source 1.
	src := image.NewGray(image.Rect(0, 0, 3, 1))
	copy(src.Pix, []uint8{0, 90, 180})
	dst := image.NewGray(image.Rect(0, 0, 2, 1))
	AreaKernel(1.5).Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	if got := dst.Pix; got[0] != 30 || got[1] != 150 { // (0*1 + 90*0.5)/1.5, (90*0.5 + 180)/1.5
		t.Fatalf("coverage weights: got %v, want [30 150]", got)
	}
}

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

func TestTransformFitsInto1920x1080WithoutUpscaling(t *testing.T) {
	runtime.LockOSThread() // as the pool's workers: the stages read this thread's CPU clock
	defer runtime.UnlockOSThread()
	for _, c := range []struct{ w, h, dw, dh int }{{2400, 1800, 1440, 1080}, {640, 360, 640, 360}} {
		s := stages.StartImages()
		out, err := Transform(photo(c.w, c.h), &s)
		if err != nil {
			t.Fatal(err)
		}
		config, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil || config.Width != c.dw || config.Height != c.dh {
			t.Fatalf("%dx%d -> %+v (%v), want %dx%d", c.w, c.h, config, err, c.dw, c.dh)
		}
		// Decode is always lapped; resize only when the image shrinks, else it stays exactly 0.
		if s.Decode <= 0 || (s.Resize > 0) != (c.w != c.dw) || s.Resize < 0 {
			t.Fatalf("%dx%d: stages %+v", c.w, c.h, s)
		}
	}
}

func TestTruncatedInputIsAFailedItemWithAReason(t *testing.T) {
	data := photo(320, 240)
	s := stages.StartImages()
	_, err := Transform(data[:len(data)/2], &s)
	var failed *worker.ItemFailed
	if !errors.As(err, &failed) || failed.Reason == "" {
		t.Fatalf("got %v", err)
	}
}
