// Package procstat reads, from the Linux kernel, how much CPU the process
// was denied: the time its own threads waited for a CPU (schedstat), the
// CPU pressure (PSI) of the machine and of the process's own cgroup, the steal time of a virtual machine, and the throttling of
// the cgroup's CPU quota. A run samples it at the start and end of each
// segment; the difference says whether the generator's figures are its
// own or the target's.
//
// Nothing here fails: a file that is absent (another system, cgroup v1,
// a kernel without PSI) or that does not read as the kernel writes it
// leaves its counters unknown, and the figures computed from them NaN.
//
//	from := procstat.Read()
//	// … the segment's load …
//	d := procstat.Read().Sub(from)
//	fmt.Printf("waited for a CPU %.1f %% of the time it could run\n", 100*d.WaitShare()) // NaN where not measured
package procstat
