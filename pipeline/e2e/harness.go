// Package e2e runs the real kickwatch binary against in-process fakes (Kick's
// Pusher socket, a Discord webhook) and a real PostgREST, for end-to-end tests
// and load runs. It builds the binary once, writes its config, starts, signals
// and kills it, and reads its JSON log lines.
//
// Nothing here depends on package testing: a load tool can use it as it is.
// Every wait takes a context and returns when it is done.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitDelay bounds how long exec waits for a dead process's output pipes.
const waitDelay = 5 * time.Second

// ModuleRoot returns the directory of the kickwatch module (from `go env GOMOD`).
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(mod), nil
}

// Build compiles the kickwatch binary into dir and returns its path. It builds
// without -race and with CGO_ENABLED=0, as releases are built.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kickwatch")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "kickwatch")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.WaitDelay = waitDelay
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build kickwatch: %w\n%s", err, out.Bytes())
	}
	return bin, nil
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// BuildOnce is Build into a directory of its own, done once per process; later
// calls return the first result. The directory is left for the OS to clean
// (os.TempDir); call RemoveBuild at the end of a run to delete it.
func BuildOnce(ctx context.Context) (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kickwatch-e2e-bin-")
		if err != nil {
			buildErr = fmt.Errorf("build dir: %w", err)
			return
		}
		buildBin, buildErr = Build(ctx, dir)
		if buildErr != nil {
			os.RemoveAll(dir)
		}
	})
	return buildBin, buildErr
}

// RemoveBuild deletes the directory BuildOnce built into, if any.
func RemoveBuild() {
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
}

// Daemon describes how to run the binary.
type Daemon struct {
	Binary string // path to the kickwatch binary
	Config string // path to its config file
	Dir    string // working directory; default the config's directory
	// Env holds extra KEY=VALUE variables. The process inherits the
	// environment except KICKWATCH_* variables (a developer's real webhook
	// must not leak into a test), which only Env sets.
	Env []string
	// Tee, when set, also receives everything the process writes to stderr.
	Tee io.Writer
}

// environ is the process environment for d.
func (d Daemon) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KICKWATCH_") {
			env = append(env, kv)
		}
	}
	return append(env, d.Env...)
}

func (d Daemon) dir() string {
	if d.Dir != "" {
		return d.Dir
	}
	return filepath.Dir(d.Config)
}

// Process is one running daemon.
type Process struct {
	cmd    *exec.Cmd
	Logs   *LogBuffer // stderr, line by line
	Stdout *LogBuffer
	start  time.Time

	done     chan struct{} // closed when the process has exited
	exitCode int
	waitErr  error
}

// Start starts `kickwatch run -config …`. ctx only guards the start: the
// process runs until Stop, Kill or Close.
func (d Daemon) Start(ctx context.Context) (*Process, error) {
	if d.Binary == "" || d.Config == "" {
		return nil, errors.New("start kickwatch: Binary and Config are required")
	}
	p := &Process{Logs: NewLogBuffer(d.Tee), Stdout: NewLogBuffer(nil), done: make(chan struct{})}
	cmd := exec.Command(d.Binary, "run", "-config", d.Config)
	cmd.Dir = d.dir()
	cmd.Env = d.environ()
	cmd.Stderr = p.Logs
	cmd.Stdout = p.Stdout
	cmd.WaitDelay = waitDelay
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kickwatch: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kickwatch: %w", err)
	}
	p.cmd, p.start = cmd, time.Now()
	go func() {
		err := cmd.Wait()
		p.exitCode = cmd.ProcessState.ExitCode()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.waitErr = err
		}
		p.Logs.finish()
		p.Stdout.finish()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Process) Started() time.Time { return p.start }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process (nothing once it has exited).
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal kickwatch: %w", err)
	}
	return nil
}

// Wait waits for the process to exit and returns its exit code (-1 when a
// signal killed it).
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.exitCode, p.waitErr
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for kickwatch (pid %d): %w", p.Pid(), ctx.Err())
	}
}

// Stop sends SIGTERM and waits for the exit code.
func (p *Process) Stop(ctx context.Context) (int, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	return p.Wait(ctx)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill(ctx context.Context) error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_, err := p.Wait(ctx)
	return err
}

// Close kills the process if it still runs and waits up to waitDelay for it:
// a cleanup that never blocks for long.
func (p *Process) Close() {
	if p == nil || p.cmd == nil || p.Exited() {
		return
	}
	_ = p.Signal(syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), waitDelay)
	defer cancel()
	_, _ = p.Wait(ctx)
}

// HTTPAddr waits for the "http listener up" log line and returns the address
// it names (host:port).
func (p *Process) HTTPAddr(ctx context.Context) (string, error) {
	l, err := p.WaitLog(ctx, func(l LogLine) bool { return l.Msg() == "http listener up" })
	if err != nil {
		return "", err
	}
	addr := l.Str("addr")
	if addr == "" {
		return "", errors.New("http listener up: no addr in the log line")
	}
	return addr, nil
}

// WaitLog waits for a log line matching match, failing early if the process
// exits first.
func (p *Process) WaitLog(ctx context.Context, match func(LogLine) bool) (LogLine, error) {
	l, err := p.Logs.Wait(ctx, match)
	if err != nil && p.Exited() {
		return l, fmt.Errorf("%w (kickwatch exited with code %d)", err, p.exitCode)
	}
	return l, err
}

// WaitReady polls GET /readyz every interval until it answers 200, failing
// early if the process exits.
func (p *Process) WaitReady(ctx context.Context, interval time.Duration) error {
	addr, err := p.HTTPAddr(ctx)
	if err != nil {
		return err
	}
	return pollUntil(ctx, interval, p.done, func() (bool, error) {
		code, _, err := httpGet(ctx, "http://"+addr+"/readyz")
		return err == nil && code == 200, nil
	})
}

// pollUntil calls cond every interval until it reports true, returns an
// error, ctx is done, or abort is closed.
func pollUntil(ctx context.Context, interval time.Duration, abort <-chan struct{}, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("poll: %w", ctx.Err())
		case <-abort:
			return errors.New("poll: kickwatch exited")
		case <-t.C:
		}
	}
}

// Poll calls cond every interval until it reports true, returns an error, or
// ctx is done: a bounded wait on a condition.
func Poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	return pollUntil(ctx, interval, nil, cond)
}

// CLIResult is the outcome of one CLI command.
type CLIResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// RunCLI runs `kickwatch args…` to completion (killed when ctx is done).
func (d Daemon) RunCLI(ctx context.Context, args ...string) (CLIResult, error) {
	cmd := exec.CommandContext(ctx, d.Binary, args...)
	cmd.Dir = d.dir()
	cmd.Env = d.environ()
	cmd.WaitDelay = waitDelay
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, fmt.Errorf("kickwatch %s: %w", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("kickwatch %s: %w", strings.Join(args, " "), ctx.Err())
	}
	return res, nil
}
