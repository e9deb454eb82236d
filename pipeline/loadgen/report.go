package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// report is what a run found: figures with their targets, and the series
// sampled during the run.
type report struct {
	Mode    string        `json:"mode"`
	Command string        `json:"command"`
	Date    string        `json:"date"`
	Machine string        `json:"machine"`
	Figures []figure      `json:"figures"`
	Series  []seriesPoint `json:"series,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
}

// figure is one measured value; Met is nil when it has no target.
type figure struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

// seriesPoint is one sample of the daemon, relative to the run's start.
type seriesPoint struct {
	T           string         `json:"t"`
	Phase       string         `json:"phase,omitempty"`
	RSSMB       float64        `json:"rss_mb"`
	AnonMB      float64        `json:"anon_mb"`
	FileMB      float64        `json:"file_mb"`
	CPUSeconds  float64        `json:"cpu_s"`
	Undelivered int            `json:"undelivered"`
	Pending     map[string]int `json:"pending,omitempty"`
}

func newReport(o options, args []string) *report {
	return &report{
		Mode:    o.mode,
		Command: commandLine(args),
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machine(),
	}
}

// machine describes the host: CPUs, model, Go, load average.
func machine() string {
	model := "unknown CPU"
	if b, err := readBounded("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d× %s, %s %s/%s%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}

// add appends a figure without a target.
func (r *report) add(name, format string, args ...any) {
	r.Figures = append(r.Figures, figure{Name: name, Value: fmt.Sprintf(format, args...)})
}

// check appends a figure with its target and whether it was met.
func (r *report) check(name, target string, met bool, format string, args ...any) {
	r.Figures = append(r.Figures, figure{Name: name, Value: fmt.Sprintf(format, args...), Target: target, Met: &met})
}

func (r *report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// addSeries keeps every point of ss, or about maxPoints evenly spaced ones.
func (r *report) addSeries(ss []sample, start time.Time, phase func(time.Time) string, maxPoints int) {
	step := max(1, (len(ss)+maxPoints-1)/maxPoints)
	for i, s := range ss {
		if i%step != 0 && i != len(ss)-1 {
			continue
		}
		p := seriesPoint{T: s.At.Sub(start).Round(time.Second).String(), RSSMB: mb(s.RSSKB), AnonMB: mb(s.AnonKB), FileMB: mb(s.FileKB),
			CPUSeconds: s.CPU.Seconds(), Undelivered: s.Depth.Undelivered, Pending: s.Depth.Pending}
		if phase != nil {
			p.Phase = phase(s.At)
		}
		r.Series = append(r.Series, p)
	}
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "kickwatch loadgen, mode %s\ncommand: %s\ndate:    %s\nmachine: %s\n\n", r.Mode, r.Command, r.Date, r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tmet")
	for _, f := range r.Figures {
		met := ""
		if f.Met != nil {
			met = "yes"
			if !*f.Met {
				met = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Value, f.Target, met)
	}
	tw.Flush()
	if len(r.Series) > 0 {
		fmt.Fprintln(w, "\nseries (RSS = anon + file-backed pages; daemon CPU seconds; undelivered messages; pending per sink):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "t\tphase\trss MiB\tanon MiB\tfile MiB\tcpu s\tundelivered\tpending")
		for _, p := range r.Series {
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%s\n", p.T, p.Phase, p.RSSMB, p.AnonMB, p.FileMB,
				p.CPUSeconds, p.Undelivered, pendingText(p.Pending))
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nnote: %s", n)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
}

func pendingText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
