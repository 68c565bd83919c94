package cgroupstat

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPUQuota is the tightest CPU bandwidth limit, in cores, of this process's cgroup and its
// ancestors up to the mount point, so the worker can record the quota it saw beside the
// GOMAXPROCS the Go runtime chose from it; ok is false when there is none (or no cgroup is visible).
func CPUQuota() (cores float64, ok bool) {
	return cpuQuotaFrom("/proc/self/cgroup", "/proc/self/mountinfo")
}

func cpuQuotaFrom(cgroupFile, mountinfoFile string) (float64, bool) {
	groups, err := os.ReadFile(cgroupFile)
	if err != nil {
		return 0, false
	}
	info, err := os.ReadFile(mountinfoFile)
	if err != nil {
		return 0, false
	}
	own, mounts := ownPaths(string(groups)), cgroupMounts(string(info))
	// v1's cpu controller first: on a hybrid host the CPU limit lives there, not in cgroup2
	if path, ok := own["cpu"]; ok {
		for _, m := range mounts {
			if m.fsType == "cgroup" && contains(m.options, "cpu") {
				return tightest(m.point, directory(m, path), false)
			}
		}
	}
	if path, ok := own[""]; ok {
		for _, m := range mounts {
			if m.fsType == "cgroup2" {
				return tightest(m.point, directory(m, path), true)
			}
		}
	}
	return 0, false
}

// tightest walks from dir up to the mount point: a parent's limit binds its children too.
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
