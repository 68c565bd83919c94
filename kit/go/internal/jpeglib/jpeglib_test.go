package jpeglib

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestMappedFilesFindsEachLibjpegOnceAndNothingElse(t *testing.T) {
	maps, err := os.ReadFile("testdata/maps")
	if err != nil {
		t.Fatal(err)
	}
	got := MappedFiles(string(maps), "libjpeg")
	want := []string{"/usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0", "/tmp/odd dir/libjpeg-copy.so"}
	if !slices.Equal(got, want) { // not libgdcmjpeg8, not [stack], a space and " (deleted)" handled
		t.Fatalf("got %q", got)
	}
	if got := MappedFiles(string(maps), "libopencv_imgcodecs"); len(got) != 1 {
		t.Fatalf("imgcodecs %q", got)
	}
}

func TestVersionInReadsTheEmbeddedLibjpegTurboString(t *testing.T) {
	for data, want := range map[string]string{
		// as `strings libjpeg.so.62.3.0` shows it on Debian 12, amid other bytes
		"\x00\x7fELF...\x00libjpeg-turbo version 2.1.5 (build 20230203)\x00Copyright": "libjpeg-turbo 2.1.5",
		"libjpeg-turbo version 3.1.0.\x00":                                            "libjpeg-turbo 3.1.0",
		"libjpeg-turbo version \x00":                                                  "",
		"Independent JPEG Group's software, version 9e":                               "",
	} {
		if got := VersionIn([]byte(data)); got != want {
			t.Errorf("%q: got %q, want %q", data, got, want)
		}
	}
}

func fakeMaps(t *testing.T, libraries map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var maps strings.Builder
	for name, content := range libraries {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		maps.WriteString("7f3a2156d000-7f3a21570000 r--p 00000000 08:01 2622001    " + path + "\n")
	}
	mapsPath := filepath.Join(dir, "maps")
	_ = os.WriteFile(mapsPath, []byte(maps.String()), 0o644)
	return mapsPath
}

func TestIdentifySaysWhatIsKnown(t *testing.T) {
	turbo := "\x00libjpeg-turbo version 2.1.5 (build 20230203)\x00"
	if got := Identify(fakeMaps(t, map[string]string{"libjpeg.so.62": turbo})); got != "libjpeg-turbo 2.1.5" {
		t.Errorf("libjpeg-turbo mapped: %q", got)
	}
	// OpenCV built with libjpeg-turbo inside (as pip wheels are): the version is in imgcodecs
	if got := Identify(fakeMaps(t, map[string]string{"libopencv_imgcodecs.so.410": turbo})); got != "libjpeg-turbo 2.1.5" {
		t.Errorf("bundled: %q", got)
	}
	mapsPath := fakeMaps(t, map[string]string{"libjpeg.so.9": "IJG libjpeg"})
	if got := Identify(mapsPath); got != "unknown ("+filepath.Join(filepath.Dir(mapsPath), "libjpeg.so.9")+")" {
		t.Errorf("no version string: %q", got)
	}
	if got := Identify(fakeMaps(t, nil)); got != "unknown" {
		t.Errorf("nothing mapped: %q", got)
	}
	if got := Identify(filepath.Join(t.TempDir(), "missing")); got != "unknown" {
		t.Errorf("unreadable maps: %q", got)
	}
}

func TestIdentifyOnThisMachinesLibjpeg(t *testing.T) {
	const debian = "/usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0"
	data, err := os.ReadFile(debian)
	if err != nil {
		t.Skip("no Debian libjpeg62-turbo here: ", err)
	}
	if got := VersionIn(data); !strings.HasPrefix(got, "libjpeg-turbo 2.") {
		t.Fatalf("%s: %q", debian, got)
	}
}

func TestNativeNamesGosImageJPEG(t *testing.T) {
	if got := Native(); got != "image/jpeg (Go "+runtime.Version()+")" {
		t.Fatal(got)
	}
}
