package api

import "strings"

// Role is a part a daemon can hold. Relays and clients are also the roles of an assignment.
type Role string

// Roles a daemon can hold.
const (
	RoleController Role = "controller"
	RoleRelay      Role = "relay"
	RoleClient     Role = "client"
)

// Valid reports whether r is one of the roles above.
func (r Role) Valid() bool {
	switch r {
	case RoleController, RoleRelay, RoleClient:
		return true
	}
	return false
}

// RolesFrom converts role names, as flags and other wire formats carry them, to Roles.
func RolesFrom(names []string) []Role {
	if names == nil {
		return nil
	}
	out := make([]Role, len(names))
	for i, n := range names {
		out[i] = Role(n)
	}
	return out
}

// RoleNames is the inverse of RolesFrom.
func RoleNames(roles []Role) []string {
	if roles == nil {
		return nil
	}
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// Assignable reports whether a distribution gives hosts tasks in role r (relay or client).
func (r Role) Assignable() bool { return r == RoleRelay || r == RoleClient }

// DistState is the state of a distribution, computed by the controller from its assignments.
type DistState string

// Distribution states.
const (
	DistPending   DistState = "pending"   // stored, no target has started
	DistActive    DistState = "active"    // at least one target is working
	DistComplete  DistState = "complete"  // every target is done
	DistPartial   DistState = "partial"   // ended with some targets done and some failed
	DistFailed    DistState = "failed"    // ended with no target done
	DistCancelled DistState = "cancelled" // cancelled by an operator
)

// Ended reports whether s is final: the distribution changes no more.
func (s DistState) Ended() bool {
	switch s {
	case DistComplete, DistPartial, DistFailed, DistCancelled:
		return true
	}
	return false
}

// TaskState is the state of one assignment, as reported by its host.
type TaskState string

// Task (assignment) states, as reported by hosts.
const (
	TaskPending     TaskState = "pending"     // delivered, not started
	TaskWaiting     TaskState = "waiting"     // waiting for metainfo or peers
	TaskDownloading TaskState = "downloading" // bytes are arriving
	TaskSeeding     TaskState = "seeding"     // done and serving others (a relay, or a finished client)
	TaskDone        TaskState = "done"        // file in place and verified; may still seed
	TaskFailed      TaskState = "failed"      // gave up; Error says why
	TaskCancelled   TaskState = "cancelled"
)

// Valid reports whether s is one of the states above.
func (s TaskState) Valid() bool { return s.Active() || s.Ended() }

// Active reports whether the task is still on its way to the whole file.
func (s TaskState) Active() bool {
	switch s {
	case TaskPending, TaskWaiting, TaskDownloading:
		return true
	}
	return false
}

// Complete reports whether the host holds the whole, verified file (done, or seeding it).
func (s TaskState) Complete() bool { return s == TaskDone || s == TaskSeeding }

// Stopped reports whether the task ended without the file: it failed or was cancelled.
func (s TaskState) Stopped() bool { return s == TaskFailed || s == TaskCancelled }

// Ended reports whether the task has come to its end, with the file or without it.
func (s TaskState) Ended() bool { return s.Complete() || s.Stopped() }

// AssignmentID names one host's part in a distribution: "<dist>/<host>/<role>". Task and
// assignment ids are the same string.
func AssignmentID(distID, host string, role Role) string {
	return distID + "/" + host + "/" + string(role)
}

// SplitAssignmentID splits an id made by AssignmentID; ok is false when id has fewer than three
// parts. Neither distribution ids nor host names hold a slash, so the role is all that follows
// the second one.
func SplitAssignmentID(id string) (distID, host string, role Role, ok bool) {
	distID, rest, ok1 := strings.Cut(id, "/")
	host, r, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return distID, "", "", false
	}
	return distID, host, Role(r), true
}
