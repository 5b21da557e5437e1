package sqlstore

import (
	"testing"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/schema"
)

func TestDBTimeAppend(t *testing.T) {
	// 10:30:00.1234567 at UTC+1: the seventh digit must be cut, not
	// rounded, and the zone folded into UTC.
	at := time.Date(2026, 3, 2, 11, 30, 0, 123456789, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		gen  schema.QueryGen
		v    dbTime
		want string
	}{
		{"sqlite", schema.NewQueryGen(sqlitedialect.New()), someTime(at), "1772447400123456"},
		{"postgres", schema.NewQueryGen(pgdialect.New()), someTime(at), "'2026-03-02 10:30:00.123456Z'::timestamptz"},
		{"sqlite null", schema.NewQueryGen(sqlitedialect.New()), dbTime{}, "NULL"},
		{"postgres null", schema.NewQueryGen(pgdialect.New()), optTime(nil), "NULL"},
	} {
		got, err := tc.v.AppendQuery(tc.gen, nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestDBTimeScan(t *testing.T) {
	want := time.Date(2026, 3, 2, 10, 30, 0, 123456000, time.UTC)
	for _, src := range []any{
		want.UnixMicro(),
		want.Add(789 * time.Nanosecond).In(time.FixedZone("X", -7*3600)),
	} {
		var v dbTime
		if err := v.Scan(src); err != nil {
			t.Fatalf("Scan(%v): %v", src, err)
		}
		if !v.Valid || !v.T.Equal(want) || v.T.Location() != time.UTC {
			t.Errorf("Scan(%v) = %v, want %v in UTC", src, v.T, want)
		}
	}
	var v dbTime
	if err := v.Scan(nil); err != nil || v.Valid || v.ptr() != nil {
		t.Errorf("Scan(nil) = %+v, %v", v, err)
	}
	if err := v.Scan("2026-03-02"); err == nil {
		t.Error("Scan of text succeeded")
	}
}
