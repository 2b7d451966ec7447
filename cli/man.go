package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/alecthomas/kong"
	mangokong "github.com/alecthomas/mango-kong"
	"github.com/muesli/roff"
)

//go:generate go run .. man --dir ../man

// ManCmd writes the man pages generated from the command tree. The pages are committed in man/
// and packaged; TestManPagesCurrent fails when they fall behind the commands.
type ManCmd struct {
	Dir string `help:"Directory to write the pages into." default:"man" type:"path" placeholder:"DIR"`
}

// Run writes dist.1 and dist-COMMAND.1 for every visible command.
func (c *ManCmd) Run(g *Globals) error {
	pages, err := ManPages()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("man directory %s: %w", c.Dir, err)
	}
	for name, body := range pages {
		if err := os.WriteFile(filepath.Join(c.Dir, name), body, 0o644); err != nil {
			return fmt.Errorf("write man page: %w", err)
		}
	}
	g.Notef("wrote %d man pages into %s", len(pages), c.Dir)
	return nil
}

// manVars pin the defaults that depend on the machine, user and environment: a page must read the
// same wherever it is generated. They are what a packaged daemon (run as root on Linux) uses.
var manVars = kong.Vars{
	"socket":       "/var/lib/dist/dist.sock",
	"data_dir":     "/var/lib/dist",
	"hostname":     "the host name",
	"config_files": "/etc/dist/config.json, ~/.config/dist/config.json",
}

// ManPages renders every page, by file name.
func ManPages() (map[string][]byte, error) {
	var cli CLI
	k, err := NewParser(&cli, io.Discard, io.Discard, manVars)
	if err != nil {
		return nil, fmt.Errorf("build command tree: %w", err)
	}
	pages := map[string][]byte{}
	root := visibleTree(k.Model.Node)
	pages["dist.1"] = manPage(&kong.Application{Node: root})
	for _, cmd := range root.Children {
		if cmd.Type != kong.CommandNode {
			continue
		}
		page := *cmd
		page.Name = "dist-" + cmd.Name
		page.Parent = nil
		detail := page.Detail
		if detail == "" {
			detail = page.Help
		}
		page.Detail = detail + "\n\nThe global options (--controller, --token, --json, ...) are described in dist(1)."
		body := manPage(&kong.Application{Node: &page})
		// mango names the page's root command in the synopsis; people type "dist top [<id>]".
		body = synopsis.ReplaceAllLiteral(body, []byte(".SH SYNOPSIS\n\\fBdist "+cmd.Name+"\\fP"+roffEscape(strings.TrimPrefix(cmd.Summary(), cmd.Name))+"\n"))
		pages["dist-"+cmd.Name+".1"] = body
	}
	return pages, nil
}

// synopsis matches the synopsis section's line.
var synopsis = regexp.MustCompile(`\.SH SYNOPSIS\n.*\n`)

// roffEscape keeps text literal in roff: backslashes doubled, periods and hyphens escaped.
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ".", `\&.`, "-", `\-`).Replace(s)
}

// heading matches the title line mango writes: its date (which would make pages differ by the day
// they were made) and its centre and left footers, where it puts the whole description.
var heading = regexp.MustCompile(`(?m)^\.TH (\S+) (\d+) .*$`)

func manPage(app *kong.Application) []byte {
	var buf bytes.Buffer
	buf.WriteString(mangokong.NewManPage(1, app).Build(roff.NewDocument()))
	out := heading.ReplaceAll(buf.Bytes(), []byte(`.TH $1 $2 "" "dist" "dist manual"`))
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return append(out, exitStatus()...)
}

// exitStatus is the EXIT STATUS section: the documented, append-only table of cli/exitcode.go.
func exitStatus() []byte {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	for _, e := range ExitCodes {
		fmt.Fprintf(&b, ".TP\n\\fB%d\\fP (%s)\n%s\n", e.Code, roffEscape(e.Name), roffEscape(e.Meaning))
	}
	return []byte(b.String())
}

// visibleTree copies the tree without hidden commands and hidden flags, which mango-kong would
// otherwise list.
func visibleTree(n *kong.Node) *kong.Node {
	c := *n
	c.Flags = nil
	for _, f := range n.Flags {
		if !f.Hidden && f.Name != "help" {
			c.Flags = append(c.Flags, f)
		}
	}
	c.Children = nil
	for _, ch := range n.Children {
		if ch.Hidden {
			continue
		}
		v := visibleTree(ch)
		v.Parent = &c
		c.Children = append(c.Children, v)
	}
	c.Detail = strings.TrimSpace(c.Detail)
	return &c
}
