// Package jpeglib names the JPEG library a Go worker decodes and encodes with, for the start
// event's concurrency.jpeg_library: claim 3 compares like with like only when both sides ran the
// same JPEG library build (issue 23).
package jpeglib

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Native is go-native's JPEG library: the standard library's image/jpeg, versioned with Go.
func Native() string { return "image/jpeg (Go " + runtime.Version() + ")" }

// turboMarker precedes the version in every libjpeg-turbo build
// ("libjpeg-turbo version 2.1.5 (build 20230203)").
var turboMarker = []byte("libjpeg-turbo version ")

// MappedFiles lists the files in a /proc/PID/maps text whose base name contains substring,
// each once, in map order.
func MappedFiles(maps string, substring string) []string {
	var paths []string
	seen := map[string]bool{}
	lines := bufio.NewScanner(strings.NewReader(maps))
	for lines.Scan() {
		// address perms offset dev inode path; the path may hold spaces, and ends in " (deleted)"
		// when the file was replaced since it was mapped.
		fields := strings.SplitN(lines.Text(), " ", 6)
		if len(fields) < 6 {
			continue
		}
		path := strings.TrimSuffix(strings.TrimSpace(fields[5]), " (deleted)")
		if !strings.HasPrefix(path, "/") || !strings.Contains(filepath.Base(path), substring) || seen[path] {
			continue
		}
		seen[path] = true
		paths = append(paths, path)
	}
	return paths
}

// VersionIn is "libjpeg-turbo X.Y.Z" from the version string a libjpeg-turbo build embeds in its
// bytes, or "" when there is none.
func VersionIn(data []byte) string {
	at := bytes.Index(data, turboMarker)
	if at < 0 {
		return ""
	}
	rest := data[at+len(turboMarker):]
	end := 0
	for end < len(rest) && end < 32 && (rest[end] == '.' || rest[end] >= '0' && rest[end] <= '9') {
		end++
	}
	version := strings.Trim(string(rest[:end]), ".")
	if version == "" {
		return ""
	}
	return "libjpeg-turbo " + version
}

// Identify names the JPEG library this process has mapped, reading mapsPath (/proc/self/maps):
// "libjpeg-turbo X.Y.Z" from a mapped libjpeg's version string, else from a mapped
// libopencv_imgcodecs (a build that bundles libjpeg-turbo statically); "unknown (PATH)" when a
// libjpeg is mapped without a version string; "unknown" when none is mapped or maps is unreadable.
// It reads whole libraries (a few MB): call it once, before any item.
func Identify(mapsPath string) string {
	maps, err := os.ReadFile(mapsPath)
	if err != nil {
		return "unknown"
	}
	libjpeg := MappedFiles(string(maps), "libjpeg")
	for _, path := range slices.Concat(libjpeg, MappedFiles(string(maps), "libopencv_imgcodecs")) {
		if data, err := os.ReadFile(path); err == nil {
			if version := VersionIn(data); version != "" {
				return version
			}
		}
	}
	if len(libjpeg) > 0 {
		return "unknown (" + strings.Join(libjpeg, ", ") + ")"
	}
	return "unknown"
}
