package httpadapter

import (
	"net/http"
	"strconv"

	"github.com/keyward/keys"
)

// usage serves GET /account/usage: the month's request counts of the
// account's pool and its keys. A session and an active root key see every
// key; a child key, or a retiring root, sees its own entry and the pool.
func (h *Handler) usage(w http.ResponseWriter, r *http.Request) {
	c, _, ok := h.begin(w, r, nil)
	if !ok {
		return
	}
	month, e := usageMonth(r)
	if e != nil {
		h.fail(w, r, e)
		return
	}
	u, err := h.m.Usage(r.Context(), c.account, month)
	if err != nil {
		h.fail(w, r, mgmtError(err, http.StatusNotFound))
		return
	}
	b := appendUsage(make([]byte, 0, 160+len(u.Keys)*96), &u, &c)
	w.Header()["Cache-Control"] = noStore
	writeJSON(w, http.StatusOK, b)
}

// appendUsage appends the usage body, with the entries c may see.
func appendUsage(b []byte, u *keys.Usage, c *caller) []byte {
	b = append(b, `{"month":"`...)
	y, m, _ := u.Month.Date()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(m))
	b = append(b, `","resets_at":`...)
	b = appendTime(b, u.ResetsAt)
	b = append(b, `,"account":`...)
	b = appendCount(b, &u.Account)
	b = append(b, `,"keys":[`...)
	first := true
	for i := range u.Keys {
		ku := &u.Keys[i]
		if !c.ownEntry(ku.Key.ID) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"id":"`...)
		b = appendUUID(b, ku.Key.ID)
		b = append(b, `",`...)
		b = appendCountFields(b, &ku.UsageCount)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendCount appends {"requests":…,"quota":…,"remaining":…}.
func appendCount(b []byte, n *keys.UsageCount) []byte {
	b = append(b, '{')
	b = appendCountFields(b, n)
	return append(b, '}')
}

func appendCountFields(b []byte, n *keys.UsageCount) []byte {
	b = append(b, `"requests":`...)
	b = strconv.AppendInt(b, n.Requests, 10)
	b = append(b, `,"quota":`...)
	b = strconv.AppendInt(b, n.Quota, 10)
	b = append(b, `,"remaining":`...)
	return strconv.AppendInt(b, n.Remaining, 10)
}
