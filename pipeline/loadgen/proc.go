package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every architecture Go supports on Linux.
const clockTick = 10 * time.Millisecond

// maxProcFile bounds what is read from /proc.
const maxProcFile = 64 << 10

// procSample is one reading of a process's memory and CPU time.
type procSample struct {
	At    time.Time
	RSSKB int64 // VmRSS: resident now
	HWMKB int64 // VmHWM: peak resident since start
	// RssAnon is the process's own memory (heap, stacks, SQLite's cache);
	// RssFile is mapped files (mostly the binary's pages in use).
	AnonKB int64
	FileKB int64
	CPU    time.Duration // utime + stime
}

// readProc reads /proc/<pid>/status and /proc/<pid>/stat.
func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	st, err := readBounded(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	if err := parseStatus(st, &s); err != nil {
		return s, err
	}
	stat, err := readBounded(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	s.CPU, err = parseStat(stat)
	return s, err
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, maxProcFile)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b[:n], nil
}

// parseStatus reads VmRSS, VmHWM, RssAnon and RssFile (kB) from
// /proc/<pid>/status into s. VmRSS and VmHWM must be there.
func parseStatus(b []byte, s *procSample) error {
	found := 0
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &s.RSSKB
			found++
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &s.HWMKB
			found++
		case bytes.HasPrefix(line, []byte("RssAnon:")):
			dst = &s.AnonKB
		case bytes.HasPrefix(line, []byte("RssFile:")):
			dst = &s.FileKB
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("parse status line %q", line)
		}
		v, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return fmt.Errorf("parse status line %q: %w", line, err)
		}
		*dst = v
	}
	if found != 2 {
		return errors.New("parse status: VmRSS or VmHWM missing")
	}
	return nil
}

// parseStat returns utime+stime from /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("parse stat: no ')'")
	}
	f := bytes.Fields(b[i+1:])
	// After ')': state is field 3, so utime (14) and stime (15) are f[11], f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("parse stat: %d fields after the name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse stat: %w", err)
	}
	return time.Duration(ut+st) * clockTick, nil
}
