package cgroupstat

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestV2QuotaIsTheTightestOfTheGroupAndItsAncestors(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "sys/fs/cgroup")
	write(t, filepath.Join(mnt, "kit/cpu.max"), "50000 100000\n")
	write(t, filepath.Join(mnt, "kit/run-1/cpu.max"), "max 100000\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "0::/kit/run-1\n",
		"30 23 0:26 / "+mnt+" rw,nosuid - cgroup2 cgroup2 rw\n")
	if cores, ok := cpuQuotaFrom(cgroupFile, mountinfoFile); !ok || cores != 0.5 {
		t.Fatalf("got %v %v, want 0.5", cores, ok)
	}
}

func TestV1QuotaFromTheCPUController(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "cpu,cpuacct")
	write(t, filepath.Join(mnt, "kit/x/cpu.cfs_quota_us"), "150000\n")
	write(t, filepath.Join(mnt, "kit/x/cpu.cfs_period_us"), "100000\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "12:memory:/kit/x\n4:cpu,cpuacct:/kit/x\n",
		"40 30 0:35 / "+mnt+" rw - cgroup cgroup rw,cpu,cpuacct\n")
	if cores, ok := cpuQuotaFrom(cgroupFile, mountinfoFile); !ok || cores != 1.5 {
		t.Fatalf("got %v %v, want 1.5", cores, ok)
	}
}

func TestQuotaInsideACgroupNamespaceIsReadAtTheMountPoint(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "sys fs cgroup") // a space: mountinfo escapes it as \040
	write(t, filepath.Join(mnt, "cpu.max"), "25000 100000\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "0::/\n",
		"30 23 0:26 /kubepods/pod1/c1 "+strings.ReplaceAll(mnt, " ", `\040`)+" ro - cgroup2 cgroup2 rw\n")
	if cores, ok := cpuQuotaFrom(cgroupFile, mountinfoFile); !ok || cores != 0.25 {
		t.Fatalf("got %v %v, want 0.25", cores, ok)
	}
}

func TestNoLimitIsNotOK(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "cg")
	write(t, filepath.Join(mnt, "cpu.max"), "max 100000\n")
	cgroupFile, mountinfoFile := procSelf(t, root, "0::/\n",
		"30 23 0:26 / "+mnt+" rw - cgroup2 cgroup2 rw\n")
	if _, ok := cpuQuotaFrom(cgroupFile, mountinfoFile); ok {
		t.Fatal("no limit reported as one")
	}
}
