package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"dist/daemon/demo/origin"
)

// chromium finds a headless-capable Chromium, or skips the test saying why.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium installed (.ci/run installs Debian's chromium): the page is not tested in a browser")
	return ""
}

// signInLink asks the controller for a one-time sign-in link of its status page.
func signInLink(ctx context.Context, t *testing.T, base string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ui/ticket", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := anyTLS.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Path string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("sign-in link: %s", resp.Status)
	}
	return base + out.Path
}

// TestStatusPageInBrowser loads /ui of a running controller in headless Chromium: the page shows
// the distribution's id and its progress, refreshes by itself, and refuses strangers.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, _ := relayFleet(ctx, t, 2)
	_, d, _ := pushURL(ctx, t, f, 4<<20, origin.Options{})
	f.waitEnded(ctx, d.ID)
	base := f.ctrl.HTTPURL()

	// Strangers see the sign-in form, not the fleet.
	resp, err := anyTLS.Get(base + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if strings.Contains(body.String(), d.ID) || !strings.Contains(body.String(), "admin token") {
		t.Fatalf("/ui without a session shows the fleet or no sign-in form:\n%s", body)
	}
	if resp, err := anyTLS.Get(base + "/ui/snapshot.json"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ui/snapshot.json without a session: %v %v", resp.Status, err)
	}

	args := func(extra ...string) []string {
		return append([]string{"--headless=new", "--ignore-certificate-errors", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=8000"}, extra...)
	}
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	defer dcancel()
	dom, err := exec.CommandContext(dctx, bin, args("--dump-dom", signInLink(ctx, t, base))...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	text := string(dom)
	if !strings.Contains(text, d.ID) {
		t.Fatalf("the page does not show distribution %s:\n%s", d.ID, text)
	}
	if !strings.Contains(text, "100.0%") {
		t.Errorf("the page does not show the distribution's progress (100.0%%):\n%s", text)
	}
	m := regexp.MustCompile(`data-refreshes="(\d+)"`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no refresh counter in the page:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("the page refreshed %d times in 8 s, want at least once", n)
	}

	// A screenshot, as an operator's browser would show it.
	shot := filepath.Join(t.TempDir(), "ui.png")
	if out, err := exec.CommandContext(dctx, bin, args("--screenshot="+shot, signInLink(ctx, t, base))...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v: %s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if dir := os.Getenv("DIST_UI_SHOTS"); dir != "" { // keep them to look at: wide and light, phone and dark
		_ = os.MkdirAll(dir, 0o755)
		if b, err := os.ReadFile(shot); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "ui-1280.png"), b, 0o644)
		}
		phone := filepath.Join(dir, "ui-phone-dark.png")
		a := append(args("--screenshot="+phone, "--force-dark-mode", "--window-size=390,844"), signInLink(ctx, t, base))
		if out, err := exec.CommandContext(dctx, bin, a...).CombinedOutput(); err != nil {
			t.Errorf("chromium phone screenshot: %v: %s", err, out)
		}
	}
}
