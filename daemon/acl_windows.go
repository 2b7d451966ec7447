//go:build windows

package daemon

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"

	"dist/daemon/pluginhost"
	"dist/plugins"
)

// secureDirs gives the data and plugin directories (the system plugin directory when none is
// set) an explicit access list at first start: SYSTEM, the Administrators and the daemon's own
// user, full control, inherited by what they hold and not inherited from ProgramData, whose
// rights let ordinary users create files. A directory whose list is explicit already keeps it.
// Either way, a directory that ordinary users may write, or that one of them owns (made it
// first), stops the daemon: admin.token would be readable and a dropped plugin would run as SYSTEM.
func secureDirs(dirs ...string) error {
	self, err := pluginhost.SelfSID()
	if err != nil {
		return err
	}
	for i, dir := range dirs {
		if dir == "" && i > 0 {
			dir = plugins.SystemDir()
		}
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		if err := secureDir(dir, self); err != nil {
			return err
		}
	}
	return nil
}

func secureDir(dir string, self *windows.SID) error {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("access list of %s: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("owner of %s: %w", dir, err)
	}
	control, _, err := sd.Control()
	if err != nil {
		return fmt.Errorf("access list of %s: %w", dir, err)
	}
	// A directory someone else created first keeps its access list: it is refused below.
	if pluginhost.TrustedOwner(owner.String(), self.String()) && control&windows.SE_DACL_PROTECTED == 0 {
		if err := setExplicitACL(dir, self); err != nil {
			return err
		}
	}
	return pluginhost.PathAccess(dir) // its errors name dir
}

// setExplicitACL replaces dir's access list by full control for SYSTEM, the Administrators and
// self, inherited below and protected from what is above.
func setExplicitACL(dir string, self *windows.SID) error {
	var access []windows.EXPLICIT_ACCESS
	for _, sid := range []string{pluginhost.SIDSystem, pluginhost.SIDAdministrators, self.String()} {
		s, err := windows.StringToSid(sid)
		if err != nil {
			return fmt.Errorf("sid %s: %w", sid, err)
		}
		access = append(access, windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			Trustee:           windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeValue: windows.TrusteeValueFromSID(s)},
		})
	}
	acl, err := windows.ACLFromEntries(access, nil)
	if err != nil {
		return fmt.Errorf("access list for %s: %w", dir, err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		return fmt.Errorf("set the access list of %s (start dist as an administrator): %w", dir, err)
	}
	return nil
}
