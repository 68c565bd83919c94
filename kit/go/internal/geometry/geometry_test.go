package geometry

import "testing"

// The expected sizes are kit.worker.workloads.images.target_size's own answers.
func TestTargetSizeMatchesThePythonPipeline(t *testing.T) {
	cases := []struct{ w, h, dw, dh int }{
		{3840, 2160, 1920, 1080}, {1600, 1200, 1440, 1080}, {1000, 500, 1000, 500},
		{4000, 3000, 1440, 1080}, {1921, 1081, 1919, 1080}, {1080, 1920, 608, 1080},
		{7680, 4320, 1920, 1080}, {2000, 1, 1920, 1}, {1, 5000, 1, 1080}, {1919, 1080, 1919, 1080},
		{3841, 2161, 1920, 1080}, {1365, 1025, 1365, 1025},
	}
	for _, c := range cases {
		if dw, dh := TargetSize(c.w, c.h); dw != c.dw || dh != c.dh {
			t.Errorf("TargetSize(%d, %d) = %dx%d, want %dx%d", c.w, c.h, dw, dh, c.dw, c.dh)
		}
	}
}
