// Package cgroupcpu reads the CPU bandwidth limit of this process's cgroup (v1 or v2), so the
// worker can record the quota it saw beside the GOMAXPROCS the Go runtime chose from it.
package cgroupcpu

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Quota is the tightest CPU limit, in cores, of this process's cgroup and its ancestors up to
// the mount point; ok is false when there is none (or no cgroup can be read).
func Quota() (cores float64, ok bool) {
	return quotaFrom("/proc/self/cgroup", "/proc/self/mountinfo")
}

func quotaFrom(cgroupFile, mountinfoFile string) (float64, bool) {
	groups, err := os.ReadFile(cgroupFile)
	if err != nil {
		return 0, false
	}
	mounts, err := os.ReadFile(mountinfoFile)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(groups)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		v2 := parts[0] == "0" && parts[1] == ""
		if !v2 && !hasController(parts[1], "cpu") {
			continue
		}
		mountPoint, root, found := findMount(string(mounts), v2)
		if !found {
			continue
		}
		rel, err := filepath.Rel(root, parts[2])
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "." // a cgroup namespace: our group is the mount's root
		}
		return tightest(mountPoint, filepath.Join(mountPoint, rel), v2)
	}
	return 0, false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// findMount returns the mount point and mounted root of the cgroup2 hierarchy or the v1 cpu one.
func findMount(mountinfo string, v2 bool) (string, string, bool) {
	scanner := bufio.NewScanner(strings.NewReader(mountinfo))
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		fsType := fields[sep+1]
		if v2 && fsType == "cgroup2" {
			return fields[4], fields[3], true
		}
		if !v2 && fsType == "cgroup" && sep+3 < len(fields) && hasController(fields[sep+3], "cpu") {
			return fields[4], fields[3], true
		}
	}
	return "", "", false
}

func tightest(mountPoint, dir string, v2 bool) (float64, bool) {
	best, found := 0.0, false
	for {
		if cores, ok := readLimit(dir, v2); ok && (!found || cores < best) {
			best, found = cores, true
		}
		if dir == mountPoint || len(dir) <= len(mountPoint) {
			return best, found
		}
		dir = filepath.Dir(dir)
	}
}

func readLimit(dir string, v2 bool) (float64, bool) {
	if v2 {
		text, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if err != nil {
			return 0, false
		}
		fields := strings.Fields(string(text))
		if len(fields) != 2 || fields[0] == "max" {
			return 0, false
		}
		return ratio(fields[0], fields[1])
	}
	quota, err1 := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
	period, err2 := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return ratio(strings.TrimSpace(string(quota)), strings.TrimSpace(string(period)))
}

func ratio(quota, period string) (float64, bool) {
	q, err1 := strconv.ParseFloat(quota, 64)
	p, err2 := strconv.ParseFloat(period, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return q / p, true
}
