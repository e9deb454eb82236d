//go:build linux

package status

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumTimeout bounds one headless run (a cold start on a loaded Pi-class
// machine takes a few seconds).
const chromiumTimeout = 60 * time.Second

// dumpDOM loads url in headless Chromium and returns the DOM after load, as
// the browser serialises it. Chromium runs in its own process group, which is
// killed when the run ends or times out, so no renderer outlives the test.
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: install it with 'apt-get install -y chromium' (testdata/apt-install.sh does it for make test)", chromiumPath)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), chromiumTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+dir, "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Start()
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	err = cmd.Wait()
	// Helpers (zygote, GPU, network service) may linger after the browser exits.
	if kerr := syscall.Kill(-pgid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Logf("kill chromium process group: %v", kerr)
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within %v; stderr:\n%s", chromiumTimeout, tail(stderr.String()))
	}
	if err != nil {
		t.Fatalf("chromium: %v; stderr:\n%s", err, tail(stderr.String()))
	}
	return stdout.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// TestBrowser_RendersAndRunsNoScript loads the real handler in headless
// Chromium: the page shows the states and mentions, and none of the hostile
// chat text became markup or ran (each payload would set document.title).
func TestBrowser_RendersAndRunsNoScript(t *testing.T) {
	page := hostilePage()
	// Also a payload that would run even under a lax policy if it became an element.
	page.Mentions = append(page.Mentions, Mention{Time: t0, Channel: "xqc", Kind: "mention", Sender: "dave",
		Text: `</bdi></td></tr></table><svg onload="document.title='pwned4'"><style>body{display:none}</style>`})
	srv := httptest.NewServer(Handler(func(context.Context) (Page, error) { return page, nil }, nil))
	defer srv.Close()

	dom := dumpDOM(t, srv.URL+"/")

	if m := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(dom); m == nil || m[1] != "kickwatch status" {
		t.Errorf("document title=%q, want %q (a script ran?)", m, "kickwatch status")
	}
	for _, el := range []string{"<script", "<img", "<svg", "<b>tag", "<a "} {
		if strings.Contains(dom, el) {
			t.Errorf("DOM has a %s element: chat text became markup", el)
		}
	}
	if got := strings.Count(dom, "<style>"); got != 1 {
		t.Errorf("style elements=%d, want 1 (the page's own)", got)
	}
	if got := strings.Count(dom, `<tr class="mention">`); got != len(page.Mentions) {
		t.Errorf("mention rows=%d, want %d (hostile text broke the table)", got, len(page.Mentions))
	}
	for _, want := range []string{
		// The mentions, shown as text. Chromium serialises text with &lt; &gt; &amp; only.
		`<bdi>&lt;script&gt;document.title='pwned'&lt;/script&gt;</bdi>`,
		`<bdi>"&gt;&lt;img src=x onerror="document.title='pwned2'"&gt;</bdi>`,
		"**bold** [link](javascript:alert(1)) `code` &lt;b&gt;tag&lt;/b&gt;",
		"invoice\uFFFDtxt.exe\uFFFDhidden\uFFFD end",
		`&lt;svg onload="document.title='pwned4'"&gt;`,
		// The states.
		`<tr data-channel="xqc"><td>xqc</td><td>pusher</td><td class="ok">subscribed</td>`,
		`<tr data-channel="quiet"><td>quiet</td><td>pusher</td><td class="bad">failed</td>`,
		`<tr data-source="centrifugo"><td>centrifugo</td><td class="bad">disconnected</td>`,
		`<td class="bad">open (probe in 30s)</td>`,
		`<td class="bad">misconfigured</td>`,
		`<tr data-breaker="discord"><td>discord</td><td class="bad">open</td>`,
		`<meta http-equiv="refresh" content="10">`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
