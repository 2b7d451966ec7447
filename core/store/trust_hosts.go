package store

import (
	"context"
	"time"
)

// Approval states of a host (HostApproval.State).
const (
	ApprovalPending  = "pending"  // joined while approval is required, not approved yet
	ApprovalApproved = "approved" // an operator approved it (or an admin token joined it)
	ApprovalDenied   = "denied"   // an operator denied it: its certificates are revoked too
)

// HostApproval is an operator's decision about a joined host. A host without one joined while
// approval was not required and counts as approved.
type HostApproval struct {
	Name  string    `json:"name"`
	State string    `json:"state"`
	At    time.Time `json:"at"`
	By    string    `json:"by,omitempty"` // token name of the deciding operator, "" for a join
}

// Revocation withdraws host certificates before they expire: the one of Serial (hex, as the CA
// writes it), or with Serial "" every certificate of Host issued before At.
type Revocation struct {
	Host   string    `json:"host"`
	Serial string    `json:"serial,omitempty"`
	At     time.Time `json:"at"`
	By     string    `json:"by,omitempty"`
}

// HostTrustStore keeps host approvals, revoked certificates and, when several controllers
// share the database, their CA. Each change of approvals or revocations moves TrustEpoch on in
// the same transaction: a controller that sees the epoch unchanged knows nothing changed.
type HostTrustStore interface {
	// SetApproval writes the decision about a host (insert or replace).
	SetApproval(ctx context.Context, a HostApproval) error
	// Approvals returns every decision, ordered by name.
	Approvals(ctx context.Context) ([]HostApproval, error)
	// AddRevocations appends revocations in one transaction.
	AddRevocations(ctx context.Context, rs []Revocation) error
	// Revocations returns every revocation, oldest first.
	Revocations(ctx context.Context) ([]Revocation, error)
	// TrustEpoch answers the counter that every change above moves on.
	TrustEpoch(ctx context.Context) (int64, error)
	// KeepCA stores the CA certificate and key (PEM) unless one is stored already, in one
	// transaction (the first writer wins), and answers the pair stored after the call.
	KeepCA(ctx context.Context, certPEM, keyPEM []byte, at time.Time) (cert, key []byte, err error)
	// StoredCA answers the stored CA; ErrNotFound when there is none.
	StoredCA(ctx context.Context) (cert, key []byte, err error)
}
