package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"dist/core/api"
	"dist/core/content"
)

// Limits on what the API accepts. Every string a request carries ends up in the store, in every
// host's task list and in every listing: one huge or binary value would cost the whole fleet.
// Names and ids are refused when out of bounds (400, naming the field and the limit); text that
// hosts send about failures is cut to size instead, so a report is never lost over its prose.
const (
	maxNameLen     = 255  // host, file and label names, label values, holders, versions, addresses
	maxSelectorLen = 511  // a host name, or key=value of two names
	maxIDLen       = 512  // task ids: "<dist>/<host>/<role>"
	maxTokenLen    = 64   // states, modes, error codes, hex checksums
	maxURLLen      = 4096 // sources, origins, host URLs, destination paths
	maxTextLen     = 1024 // error and reason text from hosts: cut, never refused
	maxLabels      = 64
	maxRoles       = 8
	maxSelectors   = 1024
	maxReportTasks = 4096 // a host's live tasks; far more than any host holds
	maxModeChanges = 64

	// maxBody bounds every request body but a push's and a metainfo's.
	maxBody = 1 << 20
	// maxPushBody bounds a push: it may carry the metainfo of a published file, 20 bytes per
	// piece (a 256 GiB file in 256 KiB pieces: 27 MiB once base64 encoded). Its other strings are
	// bounded while the body streams in (boundedJSON), so a huge name is refused after its first
	// few hundred bytes.
	maxPushBody = 64 << 20
)

// checkString refuses s when longer than max bytes, not UTF-8, or holding a control character
// (NUL, newline, escape...). The message names the field and the limit, never the value.
func checkString(field, s string, max int) error {
	if len(s) > max {
		return badRequest("%s is %d bytes long: the limit is %d bytes", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return badRequest("%s is not valid UTF-8: use UTF-8 text", field)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return badRequest("%s holds the control character %U at byte %d: use printable characters only", field, r, i)
		}
	}
	return nil
}

// clipText makes text from a host fit to keep and show: valid UTF-8, control characters as
// spaces, at most maxTextLen bytes (cut on a character boundary, marked with "…").
func clipText(s string) string {
	if len(s) > 4*maxTextLen {
		s = s[:4*maxTextLen] // no need to look at the rest
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxTextLen {
		return s
	}
	const mark = "…"
	cut := maxTextLen - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// checkHost bounds a registration.
func checkHost(h api.Host) error {
	if err := checkString("host name", h.Name, maxNameLen); err != nil {
		return err
	}
	if len(h.Labels) > maxLabels {
		return badRequest("host %s has %d labels: the limit is %d", h.Name, len(h.Labels), maxLabels)
	}
	for k, v := range h.Labels {
		if err := checkString("label name", k, maxNameLen); err != nil {
			return err
		}
		if k == "" || strings.Contains(k, "=") {
			return badRequest("label name %q is empty or holds '=': selectors (key=value) could not name it", k)
		}
		if err := checkString("label "+k, v, maxNameLen); err != nil {
			return err
		}
	}
	if len(h.Roles) > maxRoles {
		return badRequest("host %s lists %d roles: give each of controller, relay and client at most once", h.Name, len(h.Roles))
	}
	for field, v := range map[string]struct {
		s   string
		max int
	}{"http_url": {h.HTTPURL, maxURLLen}, "bt_addr": {h.BTAddr, maxNameLen}, "version": {h.Version, maxNameLen}} {
		if err := checkString(field, v.s, v.max); err != nil {
			return err
		}
	}
	return nil
}

// checkPush bounds the strings of a push.
func checkPush(req api.CreateDistribution) error {
	for _, f := range []struct {
		field, s string
		max      int
	}{
		{"source", req.Source, maxURLLen},
		{"name", req.Name, maxNameLen},
		{"dest", req.Dest, maxURLLen},
		{"sha256", req.SHA256, 2 * maxTokenLen},
		{"publisher", req.Publisher, maxNameLen},
	} {
		if err := checkString(f.field, f.s, f.max); err != nil {
			return err
		}
	}
	if len(req.To) > maxSelectors {
		return badRequest("to lists %d selectors: the limit is %d (select by label instead)", len(req.To), maxSelectors)
	}
	for _, sel := range req.To {
		if err := checkString("selector", sel, maxSelectorLen); err != nil {
			return err
		}
	}
	return nil
}

// checkReport bounds a report in place: ids and tokens are refused when out of bounds, text is cut.
func checkReport(rep *api.Report) error {
	if err := checkString("host", rep.Host, maxNameLen); err != nil {
		return err
	}
	if len(rep.Tasks) > maxReportTasks {
		return badRequest("report names %d tasks, at most %d are taken: report the host's live tasks only", len(rep.Tasks), maxReportTasks)
	}
	for i := range rep.Tasks {
		t := &rep.Tasks[i]
		if err := checkString("task id", t.ID, maxIDLen); err != nil {
			return err
		}
		for field, v := range map[string]string{"state": string(t.State), "error_code": t.ErrorCode, "mode": string(t.Mode)} {
			if err := checkString(field+" of task "+t.ID, v, maxTokenLen); err != nil {
				return err
			}
		}
		t.Error, t.ModeReason = clipText(t.Error), clipText(t.ModeReason)
		if n := len(t.ModeChanges); n > maxModeChanges {
			t.ModeChanges = t.ModeChanges[n-maxModeChanges:] // hosts list the latest last
		}
		for j := range t.ModeChanges {
			c := &t.ModeChanges[j]
			for _, v := range []string{string(c.From), string(c.To)} {
				if err := checkString("mode change of task "+t.ID, v, maxTokenLen); err != nil {
					return err
				}
			}
			c.Reason = clipText(c.Reason)
		}
	}
	return nil
}

// metainfoBody bounds the body of a metainfo PUT by the piece count of the distribution's size:
// 20 bytes of hash per piece of the smallest length a relay may choose, base64 encoded in a JSON
// string, plus room for the rest of the torrent.
func metainfoBody(size, pieceLen int64) int64 {
	if pieceLen <= 0 {
		pieceLen = content.MinPieceLength
	}
	pieces := max(size, 1)/pieceLen + 1
	return (20*pieces+64<<10)*4/3 + 1024
}

// decodeLimited reads a JSON body of at most limit bytes into v. With fieldMax, every string but
// the top-level fields it allows (max < 0) is refused as the body streams in once longer than
// its field's limit, so an oversized value is never read whole.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, limit int64, fieldMax func(key string) int) error {
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if fieldMax != nil {
		body = &boundedJSON{r: body, max: fieldMax}
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var long *longString
		switch {
		case errors.As(err, &long):
			return badRequest("%s is longer than %d bytes: the limit is %d bytes", long.field, long.max, long.max)
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, codeBadRequest, "request body is larger than %d bytes", tooBig.Limit)
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty: send a json document")
		default:
			return badRequest("request body is not valid json: %v", err)
		}
	}
	return nil
}

// pushFieldMax is the streaming bound of each top-level field of a push; the metainfo is bounded
// by the body only.
func pushFieldMax(key string) int {
	switch key {
	case "metainfo":
		return -1
	case "source", "dest":
		return maxURLLen
	case "to":
		return maxSelectorLen
	default:
		return maxNameLen
	}
}

// longString is the error of a string over its field's bound.
type longString struct {
	field string
	max   int
}

func (e *longString) Error() string { return fmt.Sprintf("%s is longer than %d bytes", e.field, e.max) }

// boundedJSON passes a JSON document through, failing as soon as one string grows past the bound
// of the top-level field it belongs to. It follows only what it needs of the syntax: strings
// (with escapes), nesting, and which top-level key is current; the decoder checks the rest.
type boundedJSON struct {
	r   io.Reader
	max func(key string) int
	err error

	depth    int
	inString bool
	escape   bool
	isKey    bool // the string being read is a top-level key
	expect   bool // at depth 1, the next string is a key
	n        int  // bytes of the current string
	key      []byte
	keyMax   int // bound of the current top-level field's strings
}

func (b *boundedJSON) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	for i := 0; i < n; i++ {
		if e := b.step(p[i]); e != nil {
			b.err = e
			return i, e
		}
	}
	return n, err
}

func (b *boundedJSON) step(c byte) error {
	if b.inString {
		switch {
		case b.escape:
			b.escape = false
		case c == '\\':
			b.escape = true
		case c == '"':
			b.inString = false
			if b.isKey {
				b.keyMax = b.max(string(b.key))
			}
			return nil
		}
		b.n++
		if b.isKey {
			if len(b.key) < 64 {
				b.key = append(b.key, c)
			}
			if b.n > maxNameLen {
				return &longString{field: "a field name", max: maxNameLen}
			}
			return nil
		}
		if b.keyMax >= 0 && b.n > b.keyMax {
			return &longString{field: string(b.key), max: b.keyMax}
		}
		return nil
	}
	switch c {
	case '"':
		b.inString, b.escape, b.n = true, false, 0
		b.isKey = b.depth == 1 && b.expect
		if b.isKey {
			b.key = b.key[:0]
		}
		if b.depth == 0 {
			b.keyMax = maxNameLen // a bare string document
		}
	case '{':
		b.depth++
		if b.depth == 1 {
			b.expect = true
		}
	case '[':
		b.depth++
	case '}', ']':
		b.depth--
	case ',':
		if b.depth == 1 {
			b.expect = true
		}
	case ':':
		if b.depth == 1 {
			b.expect = false
		}
	}
	return nil
}
