package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			isolate(t)
			r := runCLI(t, "completion", shell)
			if r.code != ExitOK || r.stderr != "" {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{"push", "top", "cancel", "--controller", "--json", "--to", "always"} {
				if shell == "fish" && strings.HasPrefix(want, "--") {
					want = "-l " + want[2:] // fish names long flags without dashes
				}
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s script lacks %q", shell, want)
				}
			}
			for _, hidden := range []string{"ready-file", " man"} {
				if strings.Contains(r.stdout, hidden) {
					t.Errorf("%s script offers hidden %q", shell, hidden)
				}
			}
			// Check the syntax with the shell itself when it is installed.
			sh, err := exec.LookPath(shell)
			if err != nil {
				return
			}
			file := filepath.Join(t.TempDir(), "dist."+shell)
			if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, "-n", file).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
	if r := runCLI(t, "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("unknown shell: exit %d, want %d", r.code, ExitUsage)
	}
}

// TestCompletionBashCompletes runs the bash function the way bash does on TAB.
func TestCompletionBashCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	isolate(t)
	r := runCLI(t, "completion", "bash")
	file := filepath.Join(t.TempDir(), "dist.bash")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ line, want string }{
		{"dist pu", "push"},
		{"dist push --t", "--to"},
		{"dist --color a", "always"},
		{"dist completion f", "fish"},
		{"dist origin s", "set"},
		{"dist plugin c", "check"},
		{"dist controller b", "backup"},
		{"dist origin set --max-c", "--max-conns"},
	}
	for _, tc := range tests {
		words := strings.Fields(tc.line)
		script := `source "$1"; COMP_WORDS=(` + strings.Join(words, " ") + `); COMP_CWORD=` +
			strconv.Itoa(len(words)-1) + `; _dist; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "-c", script, "bash", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q completes to %q (%v), want %q", tc.line, out, err, tc.want)
		}
	}
}
