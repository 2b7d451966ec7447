package pluginhost

import "fmt"

// The rules of the Windows access check of plugin executables and of the daemon's data and
// plugin directories (access_windows.go, daemon/acl_windows.go), kept apart from the system calls
// so that they are tested on every system.

// Well-known SIDs: the accounts that administer the host, and the groups every ordinary user is in.
const (
	SIDSystem           = "S-1-5-18"
	SIDAdministrators   = "S-1-5-32-544"
	sidTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

	sidEveryone           = "S-1-1-0"
	sidAnonymous          = "S-1-5-7"
	sidInteractive        = "S-1-5-4"
	sidAuthenticatedUsers = "S-1-5-11"
	sidUsers              = "S-1-5-32-545"
	sidGuests             = "S-1-5-32-546"
)

// ordinarySIDs are the trustees through which a user who is no administrator gets access.
var ordinarySIDs = map[string]string{
	sidEveryone: "Everyone", sidAnonymous: "Anonymous", sidInteractive: "Interactive users",
	sidAuthenticatedUsers: "Authenticated Users", sidUsers: "Users", sidGuests: "Guests",
}

// Access rights that let their holder change a directory's content or its access: write or
// append data (create files and subdirectories), extended attributes, attributes, delete children
// or the directory, change its DACL or owner, and the generic rights that include them.
const (
	rightWriteData       = 0x00000002
	rightAppendData      = 0x00000004
	rightWriteEA         = 0x00000010
	rightDeleteChild     = 0x00000040
	rightWriteAttributes = 0x00000100
	rightDelete          = 0x00010000
	rightWriteDAC        = 0x00040000
	rightWriteOwner      = 0x00080000
	rightGenericAll      = 0x10000000
	rightGenericWrite    = 0x40000000

	writeRights = rightWriteData | rightAppendData | rightWriteEA | rightDeleteChild | rightWriteAttributes |
		rightDelete | rightWriteDAC | rightWriteOwner | rightGenericAll | rightGenericWrite
)

// ACE types.
const (
	aceAllowed = 0
	aceDenied  = 1
)

// ACE is one access control entry, as read from a file's or directory's DACL.
type ACE struct {
	Type  uint8
	Flags uint8
	Mask  uint32
	SID   string
}

// ordinaryWriter answers the name of the first ordinary trustee the entries let write (to the
// object itself, or through inheritance to what is created in it), "" for none. Deny entries are
// not credited: a directory is safe when nothing grants ordinary users a write right at all.
func ordinaryWriter(entries []ACE) string {
	for _, e := range entries {
		if e.Type != aceAllowed || e.Mask&writeRights == 0 {
			continue
		}
		if name, ok := ordinarySIDs[e.SID]; ok {
			return name
		}
	}
	return ""
}

// TrustedOwner reports whether a file or directory owned by owner is out of ordinary users'
// hands: its owner may always rewrite its DACL. self is the daemon's own user.
func TrustedOwner(owner, self string) bool {
	switch owner {
	case SIDSystem, SIDAdministrators, sidTrustedInstaller:
		return true
	}
	return owner != "" && owner == self
}

// CheckAccess is the verdict on path: nil when only SYSTEM, the Administrators (and the daemon's
// own user) may change it. A nil DACL grants everyone everything.
func CheckAccess(path, owner, self string, nullDACL bool, entries []ACE) error {
	if nullDACL {
		return fmt.Errorf("%s has no access list (everyone may write it): refused; delete it and start dist again as an administrator, or set its access with icacls", path)
	}
	if !TrustedOwner(owner, self) {
		return fmt.Errorf("%s is owned by %s, not by SYSTEM, the Administrators or the daemon's user: refused, its owner could let anyone write it; delete it and start dist again as an administrator", path, owner)
	}
	if who := ordinaryWriter(entries); who != "" {
		return fmt.Errorf("%s is writable by %s (ordinary users): refused; remove that access (icacls) so that only SYSTEM and the Administrators may write it", path, who)
	}
	return nil
}
