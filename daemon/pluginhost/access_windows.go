//go:build windows

package pluginhost

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// SelfSID answers the SID of the daemon's user.
func SelfSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("the daemon's user: %w", err)
	}
	return u.User.Sid, nil
}

// PathAccess checks that only SYSTEM, the Administrators and the daemon's own user own and may
// write path (CheckAccess), reading its owner and access list.
func PathAccess(path string) error {
	self, err := SelfSID()
	if err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("access list of %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("owner of %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		return CheckAccess(path, owner.String(), self.String(), true, nil)
	}
	if err != nil {
		return fmt.Errorf("access list of %s: %w", path, err)
	}
	entries, err := aclEntries(dacl)
	if err != nil {
		return fmt.Errorf("access list of %s: %w", path, err)
	}
	return CheckAccess(path, owner.String(), self.String(), false, entries)
}

// aclEntries reads the entries of a DACL.
func aclEntries(acl *windows.ACL) ([]ACE, error) {
	out := make([]ACE, 0, acl.AceCount)
	for i := uint16(0); i < acl.AceCount; i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, uint32(i), &ace); err != nil {
			return nil, err
		}
		e := ACE{Type: ace.Header.AceType, Flags: ace.Header.AceFlags, Mask: uint32(ace.Mask)}
		if e.Type == aceAllowed || e.Type == aceDenied { // the types laid out with the SID at SidStart
			e.SID = (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String()
		}
		out = append(out, e)
	}
	return out, nil
}
