package cgroupstat

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The same fixture trees the Python readers are tested on (tests/data/cgroup/): both languages must
// read the kernel's files alike.
const fixtures = "../../../../tests/data/cgroup"

const mib = 1 << 20

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// procSelf writes the /proc/self/cgroup and /proc/self/mountinfo a test makes up under root and
// returns their paths, in the order findOwnFrom and cpuQuotaFrom take them.
func procSelf(t *testing.T, root, cgroup, mountinfo string) (string, string) {
	t.Helper()
	cgroupFile, mountinfoFile := filepath.Join(root, "cgroup"), filepath.Join(root, "mountinfo")
	write(t, cgroupFile, cgroup)
	write(t, mountinfoFile, mountinfo)
	return cgroupFile, mountinfoFile
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestV1StatsParseTheKernelFiles(t *testing.T) {
	root := filepath.Join(fixtures, "v1/oom-stats/sys-fs-cgroup")
	s := ReadV1(map[string]string{"memory": filepath.Join(root, "memory/kit/sandbox"),
		"cpuacct": filepath.Join(root, "cpuacct/kit/sandbox"), "cpu": filepath.Join(root, "cpu/kit/sandbox")})
	if s.UsageBytes != 200*mib || s.WorkingSetBytes != 180*mib || !s.HasPeak || s.PeakUsageBytes != 256*mib {
		t.Fatalf("memory figures %+v", s)
	}
	if !near(s.CPUSeconds, 12.5) || !near(s.ThrottledSecs, 2.75) || s.ThrottledPeriod != 498 || s.OOMKills != 1 {
		t.Fatalf("cpu/oom figures %+v", s)
	}
}

func TestV2StatsParseTheKernelFiles(t *testing.T) {
	s := ReadV2(filepath.Join(fixtures, "v2/oom-stats/sandbox"))
	if s.UsageBytes != 200*mib || s.WorkingSetBytes != 180*mib || !s.HasPeak || s.PeakUsageBytes != 256*mib-4096 {
		t.Fatalf("memory figures %+v", s)
	}
	if !near(s.CPUSeconds, 12.5) || !near(s.ThrottledSecs, 2.75) || s.ThrottledPeriod != 498 || s.OOMKills != 2 {
		t.Fatalf("cpu/oom figures %+v", s)
	}
}

func TestV2WithoutMemoryPeakHasNoWatermark(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "memory.current"), "1048576\n")
	write(t, filepath.Join(dir, "memory.stat"), "inactive_file 4194304\n")
	s := ReadV2(dir)
	if s.HasPeak || s.WorkingSetBytes != 0 { // never a zero watermark; never a negative working set
		t.Fatalf("got %+v", s)
	}
}

func TestFindOwnV1HostNamespace(t *testing.T) {
	root := t.TempDir()
	mem, cpu := filepath.Join(root, "memory"), filepath.Join(root, "cpu,cpuacct")
	write(t, filepath.Join(mem, "user.slice/kit/sb/memory.usage_in_bytes"), "5\n")
	write(t, filepath.Join(cpu, "user.slice/kit/sb/cpuacct.usage"), "7\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "12:memory:/user.slice/kit/sb\n4:cpu,cpuacct:/user.slice/kit/sb\n",
		"35 31 0:32 / "+mem+" rw,relatime - cgroup cgroup rw,memory\n"+
			"32 31 0:29 / "+cpu+" rw,relatime - cgroup cgroup rw,cpu,cpuacct\n")
	g, err := findOwnFrom(cgroupFile, mountinfoFile)
	if err != nil || g.Version != 1 || g.Dirs["memory"] != filepath.Join(mem, "user.slice/kit/sb") ||
		g.Dirs["cpuacct"] != filepath.Join(cpu, "user.slice/kit/sb") || g.Dirs["cpu"] != g.Dirs["cpuacct"] {
		t.Fatalf("got %+v %v", g, err)
	}
}

func TestFindOwnV1ContainerBindMount(t *testing.T) {
	// Docker on v1 with the host's cgroup namespace: the container's own group is mounted at the mount point.
	root := t.TempDir()
	mem := filepath.Join(root, "memory")
	write(t, filepath.Join(mem, "memory.usage_in_bytes"), "5\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "12:memory:/kit/parent/abc123\n",
		"900 890 0:32 /kit/parent/abc123 "+mem+" ro,nosuid - cgroup cgroup rw,memory\n")
	g, err := findOwnFrom(cgroupFile, mountinfoFile)
	if err != nil || g.Version != 1 || g.Dirs["memory"] != mem {
		t.Fatalf("got %+v %v", g, err)
	}
}

func TestFindOwnV2Namespace(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "sys fs cgroup") // a space: mountinfo escapes it as \040
	write(t, filepath.Join(mnt, "memory.current"), "5\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "0::/\n",
		"30 23 0:26 / "+filepath.Join(root, `sys\040fs\040cgroup`)+" rw - cgroup2 cgroup2 rw\n")
	g, err := findOwnFrom(cgroupFile, mountinfoFile)
	if err != nil || g.Version != 2 || g.Dirs["unified"] != mnt {
		t.Fatalf("got %+v %v", g, err)
	}
	if s := g.Read(); s.UsageBytes != 5 {
		t.Fatalf("read %+v", s)
	}
}

func TestNoCgroupMounted(t *testing.T) {
	root := t.TempDir()
	cgroupFile, mountinfoFile := procSelf(t, root, "0::/\n",
		"22 1 0:21 / /proc rw - proc proc rw\n")
	if _, err := findOwnFrom(cgroupFile, mountinfoFile); err != ErrNoGroup {
		t.Fatalf("got %v", err)
	}
}

func TestV2GroupKillCountsEachKilledProcessOnce(t *testing.T) {
	// memory.oom.group on Linux 6.1: the victim is killed, then the group with it again
	for _, c := range []struct{ kills, groupKills, want int64 }{
		{2, 1, 1},   // one process over its cap (seen in the cgroup v2 VM)
		{14, 1, 13}, // the main worker and 12 pool processes
		{3, 0, 3},   // no group kill: one count each
		{1, 1, 1},   // a kernel counting the victim once
	} {
		events := map[string]int64{"oom_kill": c.kills, "oom_group_kill": c.groupKills}
		if got := v2OOMKills(events); got != c.want {
			t.Errorf("oom_kill %d, oom_group_kill %d: %d kills, want %d", c.kills, c.groupKills, got, c.want)
		}
	}
}
