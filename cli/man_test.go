package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestManPagesCurrent fails when man/ no longer matches the command tree. Regenerate with
// go generate ./cli (or: go run . man --dir man).
func TestManPagesCurrent(t *testing.T) {
	t.Parallel()
	pages, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "man")
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("man/%s is missing: run go generate ./cli", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("man/%s is stale: run go generate ./cli", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".1") && pages[e.Name()] == nil {
			t.Errorf("man/%s names no command: remove it", e.Name())
		}
	}
}

// TestManPagesReproducible: no date, no hidden flag or command, the same bytes twice.
func TestManPagesReproducible(t *testing.T) {
	t.Parallel()
	a, err := ManPages()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ManPages()
	for _, name := range []string{"dist.1", "dist-push.1", "dist-daemon.1", "dist-top.1"} {
		page := string(a[name])
		if page == "" {
			t.Fatalf("no page %s among %v", name, keys(a))
		}
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
		first, _, _ := strings.Cut(page, "\n")
		if !strings.HasPrefix(first, ".TH ") || strings.Contains(first, "20") && strings.Count(first, "-") >= 2 && !strings.Contains(first, `""`) {
			t.Errorf("%s title line carries a date: %q", name, first)
		}
		for _, hidden := range []string{"ready-file", "dist-man", "Write the man pages"} {
			if strings.Contains(page, hidden) {
				t.Errorf("%s mentions hidden %q", name, hidden)
			}
		}
	}
	if a["dist-man.1"] != nil {
		t.Error("the hidden man command has a page")
	}
	if !strings.Contains(string(a["dist-top.1"]), `\fBdist top\fP`) {
		t.Errorf("dist-top.1 synopsis does not read dist top:\n%s", a["dist-top.1"])
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
