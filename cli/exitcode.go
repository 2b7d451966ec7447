package cli

// Exit codes of dist. Scripts (cron jobs above all) branch on them, so this table is append-only:
// a code keeps its number and meaning forever; new codes take new numbers.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitPartial      = 2
	ExitFailed       = 3
	ExitUnreachable  = 4
	ExitUnauthorized = 5
	ExitNotFound     = 6
	ExitSource       = 7
	ExitTimeout      = 8
	ExitUsage        = 80 // kong's own code for parse errors
	ExitInterrupted  = 130
)

// ExitCode documents one exit status. Name is the stable machine word printed in the "code" field of
// JSON errors.
type ExitCode struct {
	Code    int
	Name    string
	Meaning string
}

// ExitCodes is the documented table, in the order the docs render it.
var ExitCodes = []ExitCode{
	{ExitOK, "ok", "Success; with push --wait: every target has the file."},
	{ExitError, "error", "Any error without a more specific code below."},
	{ExitPartial, "partial", "The distribution ended with some targets done and some failed."},
	{ExitFailed, "failed", "Every target failed, or the distribution was cancelled."},
	{ExitUnreachable, "unreachable", "The controller or the local daemon cannot be reached."},
	{ExitUnauthorized, "unauthorized", "The controller refused the token (bad or missing)."},
	{ExitNotFound, "not_found", "Unknown distribution id, or a selector that matches no host."},
	{ExitSource, "source", "The source cannot be used: origin unreachable, 404, no Range support, missing local file, no relay online for a URL source."},
	{ExitTimeout, "timeout", "push --wait --timeout passed before the distribution ended (it goes on)."},
	{ExitUsage, "usage", "Bad command line, environment variable or config file."},
	{ExitInterrupted, "interrupted", "Interrupted by SIGINT or SIGTERM."},
}

// exitName returns the machine word of an exit code.
func exitName(code int) string {
	for _, e := range ExitCodes {
		if e.Code == code {
			return e.Name
		}
	}
	return "error"
}
