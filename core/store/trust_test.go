package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func testTokensPersistAndDelete(t *testing.T, b backend) {
	ctx := context.Background()
	open := b.place(t)
	st := open(t)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	tok := Token{Name: "ci", Hash: "h1", Role: "operate", CreatedAt: at, ExpiresAt: at.Add(time.Hour), CreatedBy: "admin"}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, Token{Name: "ci", Hash: "h2", Role: "read", CreatedAt: at}); !errors.Is(err, ErrExists) {
		t.Fatalf("second token named ci: %v, want ErrExists", err)
	}
	if err := st.CreateToken(ctx, Token{Name: "other", Hash: "h1", Role: "read", CreatedAt: at}); !errors.Is(err, ErrExists) {
		t.Fatalf("second token with the same secret: %v, want ErrExists", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t)
	got, err := st.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != tok {
		t.Fatalf("tokens after reopen: %+v, want [%+v]", got, tok)
	}
	if !tok.Expired(at.Add(time.Hour)) || tok.Expired(at.Add(time.Hour-time.Millisecond)) {
		t.Fatal("token expiry is not at ExpiresAt")
	}
	if (Token{}).Expired(at) {
		t.Fatal("a token without ExpiresAt expired")
	}
	if err := st.DeleteToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteToken(ctx, "ci"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v, want ErrNotFound", err)
	}
	if got, _ := st.Tokens(ctx); len(got) != 0 {
		t.Fatalf("tokens after delete: %+v", got)
	}
}

func testAuditNewestFirst(t *testing.T, b backend) {
	ctx := context.Background()
	st := openTest(t, b)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	want := []AuditEntry{
		{At: at, Who: "admin", Role: "admin", Action: "token.create", Target: "ci", Remote: "127.0.0.1", Status: 201, Result: "ok"},
		{At: at.Add(time.Second), Who: "ci", Role: "operate", Action: "distribution.cancel", Target: "d1", Remote: "10.0.0.2", Status: 404, Result: "distribution d1 does not exist"},
		{At: at.Add(2 * time.Second), Who: "ci", Role: "operate", Action: "distribution.create", Status: 201, Result: "ok"},
	}
	for _, e := range want {
		if err := st.AddAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Audit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("audit: %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		w := want[len(want)-1-i]
		w.ID = e.ID
		if e != w || e.ID == 0 {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	if got, _ := st.Audit(ctx, 2); len(got) != 2 || got[0].Action != "distribution.create" {
		t.Fatalf("audit limit 2: %+v", got)
	}
}
