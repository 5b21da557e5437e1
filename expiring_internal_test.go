package keys

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestExpiryClaims: a claim is taken once, given back by remove, and
// forgotten an hour after the hour its key expires in is over, not before.
func TestExpiryClaims(t *testing.T) {
	cs := newExpiryClaims()
	at := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	hour := at.UnixNano() / int64(time.Hour)
	a := expiryClaim{key: uuid.New(), level: 7, hour: hour}
	b := expiryClaim{key: uuid.New(), level: 1, hour: hour + 1}
	if !cs.add(a) || cs.add(a) || !cs.add(b) {
		t.Fatal("a claim was refused the first time or taken twice")
	}
	cs.remove(a)
	if !cs.add(a) {
		t.Fatal("a removed claim could not be taken again")
	}
	cs.remove(expiryClaim{}) // the zero claim names none
	cs.forget(at.Add(89 * time.Minute).UnixNano())
	if n := cs.len(); n != 2 {
		t.Fatalf("%d claims before the hour after a's ended, want 2", n)
	}
	cs.forget(at.Add(90 * time.Minute).UnixNano()) // an hour past a's hour
	if n := cs.len(); n != 1 || !cs.add(a) {
		t.Fatalf("an hour after a's hour: %d claims, and a not forgotten", n)
	}
	cs.forget(at.Add(3 * time.Hour).UnixNano())
	if n := cs.len(); n != 0 || len(cs.byHour) != 0 {
		t.Fatalf("after every hour: %d claims in %d buckets", n, len(cs.byHour))
	}
}
