package main

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDist builds the release binaries as `make dist` does and checks they
// are static, small, and start: natively for amd64, under qemu-user-static
// for arm64 when it is installed (testdata/with-services.sh installs it).
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not cross-compiling the release binaries")
	}
	targets := []struct{ goarch, goarm, qemu string }{
		{"amd64", "", ""},
		{"arm64", "", "qemu-aarch64-static"},
		{"arm", "7", "qemu-arm-static"},
	}
	dir := t.TempDir()
	for _, tg := range targets {
		t.Run(tg.goarch, func(t *testing.T) {
			bin := filepath.Join(dir, "kickwatch-linux-"+tg.goarch)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v-dist-test", "-o", bin, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tg.goarch, "GOARM="+tg.goarm)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			checkStatic(t, bin)
			st, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > 20_000_000 {
				t.Errorf("binary is %d bytes, over the 20 MB budget", st.Size())
			}
			t.Logf("%s: %.1f MB (%.1f MiB)", filepath.Base(bin), float64(st.Size())/1e6, float64(st.Size())/(1<<20))

			var run []string
			switch {
			case tg.qemu == "":
				run = []string{bin, "version"}
			default:
				q, err := exec.LookPath(tg.qemu)
				if err != nil {
					t.Logf("%s not installed (apt-get install qemu-user-static): not starting the %s binary", tg.qemu, tg.goarch)
					return
				}
				run = []string{q, bin, "version"}
			}
			out, err := exec.CommandContext(ctx, run[0], run[1:]...).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "kickwatch v-dist-test" {
				t.Fatalf("%v: %v, output %q", run, err, out)
			}
		})
	}
}

// checkStatic fails unless bin is a static ELF: no interpreter, no shared
// libraries.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not static", bin)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	// Belt and braces: the interpreter path never appears either.
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("/lib64/ld-linux")) || bytes.Contains(raw, []byte("/lib/ld-linux")) {
		t.Errorf("%s mentions a dynamic loader", bin)
	}
}
