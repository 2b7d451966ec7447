package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/alecthomas/kong"
)

// sizeUnits maps a lower-case unit suffix to its multiplier. Both IEC (KiB = 1024) and SI (KB = 1000)
// are accepted because sysadmins type both; output always uses IEC.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1 << 10,
	"kib": 1 << 10,
	"m":   1 << 20,
	"mib": 1 << 20,
	"g":   1 << 30,
	"gib": 1 << 30,
	"t":   1 << 40,
	"tib": 1 << 40,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
}

// parseSize parses a human size such as "4MiB", "512 KB", "1.5GiB" or "1048576" into bytes.
// Bare K/M/G/T are binary, as in most sysadmin tools (dd, rsync).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(unicode.IsDigit(r) || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (KiB, MiB, GiB, KB, MB, GB)", s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("invalid size %q: out of range", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return int64(v), nil
}

// humanBytes renders bytes with IEC units: "0 B", "512 B", "4.0 MiB", "1.5 GiB".
func humanBytes(n int64) string {
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	u := 0
	for math.Abs(v) >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// ByteSize is a flag value that accepts human sizes on the command line, in the environment and as
// a string or a number in the config file.
type ByteSize int64

// Decode implements kong.MapperValue.
func (b *ByteSize) Decode(ctx *kong.DecodeContext) error {
	t, err := ctx.Scan.PopValue("size")
	if err != nil {
		return err
	}
	switch v := t.Value.(type) {
	case string:
		n, err := parseSize(v)
		if err != nil {
			return err
		}
		*b = ByteSize(n)
	case float64: // a JSON number in the config file
		if v < 0 || v != math.Trunc(v) || v >= math.MaxInt64 {
			return fmt.Errorf("invalid size %v", v)
		}
		*b = ByteSize(v)
	default:
		return fmt.Errorf("invalid size %v (of type %T)", t.Value, t.Value)
	}
	return nil
}
