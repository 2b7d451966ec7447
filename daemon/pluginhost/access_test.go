package pluginhost

import (
	"strings"
	"testing"
)

// TestCheckAccess runs the Windows access rules of plugins and of the data and plugin
// directories on every system: only SYSTEM, the Administrators and the daemon's own user may own
// or write them.
func TestCheckAccess(t *testing.T) {
	t.Parallel()
	const self = "S-1-5-21-1-2-3-1001"
	admins := []ACE{
		{Type: aceAllowed, Mask: rightGenericAll, SID: SIDSystem},
		{Type: aceAllowed, Mask: rightGenericAll, SID: SIDAdministrators},
	}
	with := func(e ...ACE) []ACE { return append(append([]ACE{}, admins...), e...) }
	const readExecute = 0x001200a9
	tests := []struct {
		name     string
		owner    string
		nullDACL bool
		entries  []ACE
		want     string // "" for accepted, else part of the error
	}{
		{"explicit admins only", SIDSystem, false, admins, ""},
		{"owned by administrators", SIDAdministrators, false, admins, ""},
		{"owned by the daemon's user", self, false, with(ACE{Type: aceAllowed, Mask: rightGenericAll, SID: self}), ""},
		{"users may read", SIDSystem, false, with(ACE{Type: aceAllowed, Mask: readExecute, SID: sidUsers}), ""},
		{"users denied write", SIDSystem, false, with(ACE{Type: aceDenied, Mask: rightWriteData, SID: sidUsers}), ""},
		{"ProgramData: users create files", SIDSystem, false, with(ACE{Type: aceAllowed, Flags: 0x0a, Mask: rightWriteData | rightAppendData | rightWriteEA | rightWriteAttributes, SID: sidUsers}), "writable by Users"},
		{"authenticated users modify", SIDSystem, false, with(ACE{Type: aceAllowed, Mask: 0x001301bf, SID: sidAuthenticatedUsers}), "writable by Authenticated Users"},
		{"everyone generic write", SIDSystem, false, with(ACE{Type: aceAllowed, Mask: rightGenericWrite, SID: sidEveryone}), "writable by Everyone"},
		{"everyone may change the access list", SIDSystem, false, with(ACE{Type: aceAllowed, Mask: rightWriteDAC, SID: sidEveryone}), "writable by Everyone"},
		{"guests delete", SIDSystem, false, with(ACE{Type: aceAllowed, Mask: rightDelete, SID: sidGuests}), "writable by Guests"},
		{"no access list", SIDSystem, true, nil, "no access list"},
		{"created first by another user", "S-1-5-21-1-2-3-1002", false, admins, "is owned by"},
	}
	for _, tc := range tests {
		err := CheckAccess(`C:\ProgramData\dist`, tc.owner, self, tc.nullDACL, tc.entries)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
