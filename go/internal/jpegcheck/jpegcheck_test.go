package jpegcheck

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"
)

func encoded(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), uint8(x * y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCompleteJPEGsPass(t *testing.T) {
	good := encoded(t)
	if p := Problem(good); p != "" {
		t.Fatalf("complete JPEG: %q", p)
	}
	if p := Problem(append(append([]byte{}, good...), []byte("APPENDED-AFTER-EOI")...)); p != "" {
		t.Fatalf("bytes after end-of-image are allowed: %q", p)
	}
	// An APP1 segment holding an end-of-image marker (an EXIF thumbnail) is skipped whole.
	app1 := []byte{0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9}
	withThumb := append(append(append([]byte{}, good[:2]...), app1...), good[2:]...)
	if p := Problem(withThumb); p != "" {
		t.Fatalf("end-of-image inside APP1: %q", p)
	}
}

func TestBadInputsFailWithThePythonChecksReasons(t *testing.T) {
	good := encoded(t)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "empty file"},
		"text":           {[]byte("not an image"), "not a JPEG"},
		"half":           {good[:len(good)/2], "truncated JPEG (image data ends without an end-of-image marker)"},
		"no EOI":         {good[:len(good)-2], "truncated JPEG"},
		"header only":    {good[:20], "truncated JPEG (ends inside a segment)"},
		"two bytes":      {good[:2], "truncated JPEG (ends inside the headers)"},
		"EOI only":       {[]byte{0xFF, 0xD8, 0xFF, 0xD9}, "corrupt JPEG (no image data before end-of-image)"},
		"garbage header": {[]byte{0xFF, 0xD8, 0x12, 0x34}, "corrupt JPEG (no marker at byte 2)"},
	}
	for name, c := range cases {
		if p := Problem(c.data); !strings.HasPrefix(p, c.want) {
			t.Errorf("%s: got %q, want %q...", name, p, c.want)
		}
	}
}
