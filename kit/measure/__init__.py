"""Measuring: a cgroup's own figures (cgroupstat), process memory, the monitor that samples a running
sandbox, inside samples, contention, cpusets, the machine's noise sources, the environment and the
GIL probe. Knows nothing of runtimes, the plan or the report."""
