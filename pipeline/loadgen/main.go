// Command loadgen puts the real kickwatch binary under load and measures it
// (BENCHMARKS.md, part 2). It builds kickwatch as `make build` does, starts
// it against the fake Kick server (pipeline/kick/kickfake) with a Discord
// fake (pipeline/discord/discordfake) and a PostgREST fake (or the real
// PostgREST of testdata/with-services.sh), and reads the daemon's memory and
// CPU from /proc/<pid>/status and /proc/<pid>/stat.
//
// Modes:
//
//	latency  frames at -rate over -channels, -mentions of them mentioning the
//	         user, for -duration after -warmup: frames/s sustained, CPU
//	         seconds per 100k frames, peak RSS, frame → Discord latency
//	         p50/p99, outbox depth over time, startup time, binary size.
//	memory   the same traffic; after -warm both sinks go down (503) for
//	         -outage while the outbox fills to its cap, then come back for
//	         -recover: RSS over time, its spread during the outage, time to
//	         reach the cap, rows dropped, backlog drain after the outage.
//	drain    -backlog mentions are queued with `kickwatch replay`, then the
//	         daemon starts against a Discord fake that enforces -bucket-limit
//	         per -bucket-window per webhook and -channel-limit per
//	         -channel-window per channel: drain time against the time one
//	         embed per request would take under the same limits, and 429s.
//
// Examples:
//
//	go run ./pipeline/loadgen -rate 1000 -channels 50 -mentions 0.1 -duration 30s
//	go run ./pipeline/loadgen -mode memory -rate 1000 -channels 50 -outage 10m
//	go run ./pipeline/loadgen -mode drain -backlog 1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	mode          string
	rate          float64
	channels      int
	mentions      float64
	duration      time.Duration
	warmup        time.Duration
	warm          time.Duration
	outage        time.Duration
	recover       time.Duration
	backlog       int
	bucketLimit   int
	bucketWindow  time.Duration
	channelLimit  int
	channelWindow time.Duration
	drainTimeout  time.Duration
	capPerChannel int
	capTotal      int
	sync          string
	batchWindow   time.Duration
	postgrest     string
	bin           string
	sample        time.Duration
	keep          bool
	verbose       bool
	jsonOut       bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.mode, "mode", "latency", "latency, memory or drain")
	fs.Float64Var(&o.rate, "rate", 1000, "chat frames per second, over all channels")
	fs.IntVar(&o.channels, "channels", 50, "watched channels")
	fs.Float64Var(&o.mentions, "mentions", 0.1, "share of frames that mention the user (0–1)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "latency: measured time after the warmup")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "latency: traffic before measuring")
	fs.DurationVar(&o.warm, "warm", 60*time.Second, "memory: healthy traffic before the outage")
	fs.DurationVar(&o.outage, "outage", 3*time.Minute, "memory: how long both sinks are down (the target is 10m)")
	fs.DurationVar(&o.recover, "recover", 2*time.Minute, "memory: time allowed to drain after the outage")
	fs.IntVar(&o.backlog, "backlog", 1000, "drain: mentions queued before the daemon starts")
	fs.IntVar(&o.bucketLimit, "bucket-limit", 5, "drain: requests per bucket window per webhook")
	fs.DurationVar(&o.bucketWindow, "bucket-window", 2*time.Second, "drain: the per-webhook bucket window")
	fs.IntVar(&o.channelLimit, "channel-limit", 30, "drain: messages per channel window per Discord channel (0: none)")
	fs.DurationVar(&o.channelWindow, "channel-window", time.Minute, "drain: the shared per-channel window")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 15*time.Minute, "drain: give up after this long")
	fs.IntVar(&o.capPerChannel, "cap-per-channel", 0, "store.outbox_cap_per_channel (0: kickwatch's default, 500)")
	fs.IntVar(&o.capTotal, "cap-total", 0, "store.outbox_cap_total (0: kickwatch's default, 50000)")
	fs.StringVar(&o.sync, "sync", "full", "store.synchronous: full or normal")
	fs.DurationVar(&o.batchWindow, "batch-window", 0, "delivery.batch_window (0: kickwatch's default, 5ms)")
	fs.StringVar(&o.postgrest, "postgrest", "", "remote_db sink: fake, off, or env (the real PostgREST named by KICKWATCH_TEST_POSTGREST_URL/_KEY); default fake, off in drain mode")
	fs.StringVar(&o.bin, "bin", "", "kickwatch binary to run (default: build one as `make build` does)")
	fs.DurationVar(&o.sample, "sample", time.Second, "how often RSS, CPU and the outbox depth are read")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (config, database, logs)")
	fs.BoolVar(&o.verbose, "v", false, "copy the daemon's log to stderr")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.postgrest == "" {
		o.postgrest = "fake"
		if o.mode == "drain" {
			o.postgrest = "off"
		}
	}
	switch {
	case o.mode != "latency" && o.mode != "memory" && o.mode != "drain":
		return o, fmt.Errorf("-mode %q: want latency, memory or drain", o.mode)
	case o.rate <= 0 && o.mode != "drain":
		return o, errors.New("-rate must be positive")
	case o.channels < 1 || o.channels > 1000:
		return o, errors.New("-channels must be 1–1000")
	case o.mentions < 0 || o.mentions > 1:
		return o, errors.New("-mentions must be in 0–1")
	case o.sample < 10*time.Millisecond:
		return o, errors.New("-sample must be at least 10ms")
	case o.mode == "drain" && (o.backlog < 1 || o.bucketLimit < 1 || o.bucketWindow <= 0):
		return o, errors.New("-backlog, -bucket-limit and -bucket-window must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep := newReport(o, args)
	switch o.mode {
	case "latency":
		err = runLatency(ctx, o, rep)
	case "memory":
		err = runMemory(ctx, o, rep, stderr)
	case "drain":
		err = runDrain(ctx, o, rep, stderr)
	}
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(stdout)
	return nil
}

// commandLine renders the invocation for the report.
func commandLine(args []string) string {
	return strings.TrimSpace("go run ./pipeline/loadgen " + strings.Join(args, " "))
}
