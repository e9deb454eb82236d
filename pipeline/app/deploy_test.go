package app

import (
	"bufio"
	"bytes"
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdUnit checks deploy/kickwatch.service keeps its hardening and
// runs a command line kickwatch accepts.
func TestSystemdUnit(t *testing.T) {
	unit := repoFile(t, "deploy/kickwatch.service")
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not a key=value line: %q", line)
		}
		keys[k] = append(keys[k], v)
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "kickwatch", "ProtectSystem": "strict",
		"NoNewPrivileges": "yes", "PrivateTmp": "yes", "Restart": "on-failure",
		"ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(keys["LoadCredential"]) == 0 {
		t.Error("no LoadCredential: secrets must not sit in the config")
	}
	for _, env := range keys["Environment"] {
		name, _, _ := strings.Cut(env, "=")
		if strings.HasSuffix(name, "_FILE") && !strings.HasPrefix(name, "KICKWATCH_") {
			t.Errorf("credential variable %q is not one kickwatch reads", name)
		}
	}

	// The ExecStart command line must be one kickwatch accepts: run it
	// with -help in place of running the daemon.
	exec := strings.Fields(keys["ExecStart"][0])
	if exec[0] != "/usr/local/bin/kickwatch" || exec[1] != "run" {
		t.Fatalf("ExecStart = %q", exec)
	}
	c := newCLI(t)
	if code := c.run(t.Context(), append(exec[1:], "-help")...); code != ExitOK {
		t.Errorf("kickwatch %q -help: code %d: %s", exec[1:], code, c.stderr.String())
	}

	// systemd's own checker, where systemd is installed (Debian has it).
	analyze, err := osexec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit syntax not verified by systemd")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "kickwatch.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/kickwatch", self)
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := osexec.CommandContext(ctx, analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
