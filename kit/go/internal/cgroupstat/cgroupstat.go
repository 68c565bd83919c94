// Package cgroupstat reads this process's own cgroup (v1 or v2) from inside the sandbox: memory
// usage, working set, the kernel's peak watermark, OOM kills, CPU and throttling. It is the Go twin
// of kit/measure/cgroupstat.py, with the same file names and the same arithmetic, so a Go worker's samples
// mean what a Python worker's do.
package cgroupstat

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is the kernel's figures for one group at one moment (kit.measure.cgroupstat.CgroupStats).
type Stats struct {
	UsageBytes      int64
	WorkingSetBytes int64 // usage minus inactive file cache, as the kubelet counts it
	PeakUsageBytes  int64 // the kernel's watermark; valid only when HasPeak
	HasPeak         bool
	CPUSeconds      float64
	ThrottledSecs   float64
	ThrottledPeriod int64
	OOMKills        int64
}

// Group is this process's own cgroup: v2 one directory ("unified"), v1 one per hierarchy
// ("memory", "cpuacct", "cpu").
type Group struct {
	Version int
	Dirs    map[string]string
}

// Read takes the group's figures now.
func (g Group) Read() Stats {
	if g.Version == 2 {
		return ReadV2(g.Dirs["unified"])
	}
	return ReadV1(g.Dirs)
}

func readInt(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 || fields[0] == "max" {
		return 0
	}
	value, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0
	}
	return value
}

// readKeyed parses `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
func readKeyed(path string) map[string]int64 {
	values := map[string]int64{}
	data, err := os.ReadFile(path)
	if err != nil {
		return values
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil {
			values[key] = n
		}
	}
	return values
}

// ReadV1 reads a v1 group from its directory in each hierarchy.
func ReadV1(dirs map[string]string) Stats {
	memory := dirs["memory"]
	usage := readInt(filepath.Join(memory, "memory.usage_in_bytes"))
	stat := readKeyed(filepath.Join(memory, "memory.stat"))
	inactive, ok := stat["total_inactive_file"]
	if !ok {
		inactive = stat["inactive_file"]
	}
	s := Stats{UsageBytes: usage, WorkingSetBytes: max(0, usage-inactive),
		PeakUsageBytes: readInt(filepath.Join(memory, "memory.max_usage_in_bytes")), HasPeak: true,
		OOMKills: readKeyed(filepath.Join(memory, "memory.oom_control"))["oom_kill"]}
	if dir, ok := dirs["cpuacct"]; ok {
		s.CPUSeconds = float64(readInt(filepath.Join(dir, "cpuacct.usage"))) / 1e9
	}
	if dir, ok := dirs["cpu"]; ok {
		cpu := readKeyed(filepath.Join(dir, "cpu.stat"))
		s.ThrottledSecs = float64(cpu["throttled_time"]) / 1e9
		s.ThrottledPeriod = cpu["nr_throttled"]
	}
	return s
}

// v2OOMKills is the processes the OOM killer killed, from memory.events: with memory.oom.group set,
// Linux 6.1 kills the chosen victim, then every process of the group, the victim again, so each
// group kill (oom_group_kill) counts its victim twice in oom_kill. Never fewer than the group kills,
// so that a kernel which counts the victim once still shows every kill (as the Python side's
// v2_oom_kills).
func v2OOMKills(events map[string]int64) int64 {
	return max(events["oom_kill"]-events["oom_group_kill"], events["oom_group_kill"])
}

// ReadV2 reads a v2 group; the watermark only where the kernel keeps one (memory.peak, 5.19+).
func ReadV2(dir string) Stats {
	usage := readInt(filepath.Join(dir, "memory.current"))
	stat := readKeyed(filepath.Join(dir, "memory.stat"))
	cpu := readKeyed(filepath.Join(dir, "cpu.stat"))
	s := Stats{UsageBytes: usage, WorkingSetBytes: max(0, usage-stat["inactive_file"]),
		CPUSeconds: float64(cpu["usage_usec"]) / 1e6, ThrottledSecs: float64(cpu["throttled_usec"]) / 1e6,
		ThrottledPeriod: cpu["nr_throttled"],
		OOMKills:        v2OOMKills(readKeyed(filepath.Join(dir, "memory.events")))}
	if _, err := os.Stat(filepath.Join(dir, "memory.peak")); err == nil {
		s.PeakUsageBytes, s.HasPeak = readInt(filepath.Join(dir, "memory.peak")), true
	}
	return s
}

type mount struct {
	root, point, fsType string
	options             []string
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(text string) string {
	if !strings.Contains(text, `\`) {
		return text
	}
	var out strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+3 < len(text) {
			if n, err := strconv.ParseUint(text[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(text[i])
	}
	return out.String()
}

func cgroupMounts(mountinfo string) []mount {
	var mounts []mount
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
		if sep < 5 || sep+2 >= len(fields) || (fields[sep+1] != "cgroup" && fields[sep+1] != "cgroup2") {
			continue
		}
		var options []string
		if sep+3 < len(fields) {
			options = strings.Split(fields[sep+3], ",")
		}
		mounts = append(mounts, mount{unescape(fields[3]), unescape(fields[4]), fields[sep+1], options})
	}
	return mounts
}

func ownPaths(procSelfCgroup string) map[string]string {
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(procSelfCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, controller := range strings.Split(parts[1], ",") {
			paths[controller] = parts[2]
		}
	}
	return paths
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// directory is where the group `own` appears under m: a mount shows the group at its root and what
// is below it; a cgroup namespace (or a container's bind mount) shows our group at the mount point.
func directory(m mount, own string) string {
	root := strings.TrimRight(m.root, "/")
	if root == "" {
		root = "/"
	}
	if root == "/" || own == root || strings.HasPrefix(own, root+"/") {
		relative := own
		if root != "/" {
			relative = own[len(root):]
		}
		if candidate := filepath.Join(m.point, relative); isDir(candidate) {
			return candidate
		}
	}
	return m.point
}

// ErrNoGroup means this process sees no cgroup of its own (no cgroup filesystem mounted).
var ErrNoGroup = errors.New("no cgroup of this process is visible")

// FindOwn finds this process's memory and CPU groups, as kit.measure.cgroupstat.find_own_group does.
func FindOwn() (Group, error) {
	return findOwnFrom("/proc/self/cgroup", "/proc/self/mountinfo")
}

func findOwnFrom(cgroupFile, mountinfoFile string) (Group, error) {
	groups, err := os.ReadFile(cgroupFile)
	if err != nil {
		return Group{}, err
	}
	info, err := os.ReadFile(mountinfoFile)
	if err != nil {
		return Group{}, err
	}
	own, mounts := ownPaths(string(groups)), cgroupMounts(string(info))
	dirs := map[string]string{}
	for _, controller := range []string{"memory", "cpuacct", "cpu"} {
		path, ok := own[controller]
		if !ok {
			continue
		}
		for _, m := range mounts {
			if m.fsType == "cgroup" && contains(m.options, controller) {
				dirs[controller] = directory(m, path)
				break
			}
		}
	}
	if _, ok := dirs["memory"]; ok {
		return Group{Version: 1, Dirs: dirs}, nil
	}
	if path, ok := own[""]; ok {
		for _, m := range mounts {
			if m.fsType != "cgroup2" {
				continue
			}
			dir := directory(m, path)
			if _, err := os.Stat(filepath.Join(dir, "memory.current")); err == nil {
				return Group{Version: 2, Dirs: map[string]string{"unified": dir}}, nil
			}
		}
	}
	return Group{}, ErrNoGroup
}

func contains(list []string, name string) bool {
	for _, item := range list {
		if item == name {
			return true
		}
	}
	return false
}
