package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keys"
	"github.com/keyward/keys/internal/tokentest"
)

// Cluster test tiers: a pool of burstRate a minute; a monthly quota of
// quotaMonth with a rate that never binds (clusterQuota argues its size);
// and "revocation", whose rate and quota never bind either, so that
// polling a server slow to refuse a revoked child (every 2 ms for up to
// refuseDeadline) cannot exhaust the account's pool and fail the next
// round with a 429 instead of the slow server's time.
const (
	burstRate  = 20
	quotaMonth = 200
	quotaRate  = 600_000
)

// TestCluster drives three `keys serve` processes on one PostgreSQL
// database and one Redis over HTTP (DESIGN 5.3): a pool's burst is exact
// across them, a revocation through one is refused by the others by
// notification (their cache keeps keys for an hour), 10,000 forged tokens
// cost the database no more than the servers' lookup budget allows, and a
// monthly quota overshoots across them within what README states. Bounds
// on time are derived from the time the test measured, or generous: the
// machine may be loaded; the figures are logged. It builds the binary and
// runs without the race detector (.ci/run runs it on its own line).
func TestCluster(t *testing.T) {
	if raceEnabled {
		t.Skip("cluster test: runs without -race (.ci/run: go test -run TestCluster ./integration); timing bounds under the race detector mean nothing")
	}
	redisURL := os.Getenv(redisEnv)
	if redisURL == "" {
		t.Skipf("cluster test: set %s=redis://127.0.0.1:6379/15 (and %s) to run it (.ci/run does)", redisEnv, dsnEnv)
	}
	admin := pgAdmin(t) // skips without KEYS_TEST_POSTGRES_DSN
	name, dsn := pgFreshDatabase(t, admin)
	tiers := map[string][2]int{"burst": {burstRate, 1_000_000}, "quota": {quotaRate, quotaMonth}, "revocation": {quotaRate, 1_000_000_000}}
	c := &cluster{bin: buildKeys(t), dsn: dsn, redis: redisURL, config: writeConfig(t, tiers)}
	// A cache TTL of an hour: only a notification (or a listener's
	// reconnect) can make a server refuse a key it has cached, however
	// slowly this test runs (clusterRevocation).
	c.start(t, 3, "-cache-ttl", "1h")

	st := openPG(t, dsn)
	m, err := keys.New(st, keys.Config{Tiers: map[keys.Tier]keys.Limits{
		"burst":      {RequestsPerMinute: burstRate, RequestsPerMonth: 1_000_000},
		"quota":      {RequestsPerMinute: quotaRate, RequestsPerMonth: quotaMonth},
		"revocation": {RequestsPerMinute: quotaRate, RequestsPerMonth: 1_000_000_000},
	}})
	if err != nil {
		t.Fatal(err)
	}
	run := suffix()

	t.Run("burst", func(t *testing.T) { clusterBurst(t, c, m, "acct_burst_"+run) })
	t.Run("revocation", func(t *testing.T) { clusterRevocation(t, c, m, dsn, "acct_rev_"+run) })
	t.Run("quota", func(t *testing.T) { clusterQuota(t, c, m, dsn, "acct_quota_"+run) })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c.stop(t)
	_ = st.Close()
	t.Run("forged", func(t *testing.T) { clusterForged(t, c, admin, name) })
}

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newAccount(t *testing.T, m *keys.Manager, id string, tier keys.Tier) keys.Issued {
	t.Helper()
	ctx := context.Background()
	if err := m.CreateAccount(ctx, keys.Account{ID: id, Tier: tier, EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	root, err := m.Reissue(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// clusterBurst: a pool of burstRate a minute, hit from idle by three
// times as many requests at once through three keys and three servers,
// admits exactly burstRate, plus one for each refill (one every
// minute/burstRate) while the burst lasted, which a loaded machine can
// stretch past a refill. The servers' Redis connections are warmed
// first. A burst during which a server fell back to its in-process limiter
// (Redis slower than the limiter's 50 ms deadline, which a loaded machine
// can cause; README documents what that admits) is tried again with a new
// account, at most three times; an overshoot without a fallback fails at
// once.
func clusterBurst(t *testing.T, c *cluster, m *keys.Manager, acct string) {
	warm := warmRedis(t, c, m, acct+"_warm")
	for attempt := 1; ; attempt++ {
		marks := fallbacks(c)
		ok, limited, took := burstOnce(t, c, m, fmt.Sprintf("%s_%d", acct, attempt))
		refills := int64(took / (time.Minute / burstRate))
		if ok >= burstRate && ok <= burstRate+refills && ok+limited == 3*burstRate {
			t.Logf("pool of %d/min, %d requests at once over 3 servers in %v: %d admitted (attempt %d)",
				burstRate, 3*burstRate, took.Round(time.Millisecond), ok, attempt)
			return
		}
		fell := fallbacks(c) != marks
		if !fell || attempt == 3 {
			t.Fatalf("a pool of %d/min hit by %d requests across 3 servers in %v admitted %d (%d refused), want %d to %d (attempt %d; a server fell back from Redis: %v)",
				burstRate, 3*burstRate, took, ok, limited, burstRate, burstRate+refills, attempt, fell)
		}
		t.Logf("attempt %d: %d admitted while a server fell back from Redis (slower than 50 ms); again", attempt, ok)
		waitRedisBack(t, c, warm)
	}
}

const (
	fallbackLog = "redislimiter: Redis failed"
	backLog     = "redislimiter: Redis answers again"
)

// fallbacks counts the fallbacks every server has logged.
func fallbacks(c *cluster) int {
	n := 0
	for _, s := range c.servers {
		n += strings.Count(s.stderr.String(), fallbackLog)
	}
	return n
}

// warmRedis opens each server's Redis connections and loads the script
// with a burst on an account of its own, then waits for any server that
// fell back to return to Redis. It returns the account's root key.
func warmRedis(t *testing.T, c *cluster, m *keys.Manager, acct string) string {
	root := newAccount(t, m, acct, keys.Pro)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			_, _, _ = call(context.Background(), http.MethodGet, c.servers[i%3].base+"/v1/ping", root.Secret)
		})
	}
	wg.Wait()
	waitRedisBack(t, c, root.Secret)
	return root.Secret
}

// waitRedisBack sends one request a tenth of a second to every server that
// has logged more fallbacks than returns, with token (a key of a pro
// account), until each has returned (the limiter tries Redis again once a
// second), within 10s.
func waitRedisBack(t *testing.T, c *cluster, token string) {
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range c.servers {
		for {
			log := s.stderr.String()
			if strings.Count(log, fallbackLog) <= strings.Count(log, backLog) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a server did not return to Redis within 10s:\n%s", log)
			}
			time.Sleep(100 * time.Millisecond)
			_, _, _ = call(context.Background(), http.MethodGet, s.base+"/v1/ping", token)
		}
	}
}

// burstOnce sends 3 × burstRate requests at once for a new account of the
// burst tier, spread over its root key and two children and the three
// servers, counts the answers, and returns how long they took.
func burstOnce(t *testing.T, c *cluster, m *keys.Manager, acct string) (ok, limited int64, took time.Duration) {
	root := newAccount(t, m, acct, "burst")
	tokens := []string{root.Secret}
	for range 2 {
		ch, err := m.IssueChild(context.Background(), acct, keys.ChildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, ch.Secret)
	}
	const total = 3 * burstRate
	var nOK, nLimited atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range total {
		wg.Go(func() {
			<-start
			s := c.servers[i%3]
			status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", tokens[(i/3)%3])
			switch {
			case err != nil:
				t.Error(err)
			case status == http.StatusOK:
				nOK.Add(1)
			case status == http.StatusTooManyRequests && code == "rate_limited":
				nLimited.Add(1)
			default:
				t.Errorf("burst: %d %s", status, code)
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	return nOK.Load(), nLimited.Load(), time.Since(began)
}

// clusterRevocation: a child cached by every server is refused by the
// other two soon after its revocation through one. Six rounds each revoke
// a fresh child by DELETE /account/keys/{id} through server 1, 2, 3, 1,
// 2, 3 in turn (the other two measure), and a last round revokes one by a
// reissue through server 1 (which revokes every child of the account;
// servers 2 and 3 measure): every server is measured four or five times.
// The servers cache keys for an hour, so only a notification explains a
// refusal within seconds; a control key revoked behind their backs (plain
// SQL, no notification) shows that their cache did not expire or reset
// meanwhile.
func clusterRevocation(t *testing.T, c *cluster, m *keys.Manager, dsn, acct string) {
	root := newAccount(t, m, acct, "revocation")
	// The control key is made first, on an account of its own: a server
	// that has heard of a later revocation has also heard of the control
	// key's making (notifications come in commit order), which drops its
	// account's cached keys, so once cached after the revocations below it
	// stays cached.
	newAccount(t, m, acct+"_control", "revocation")
	control, err := m.IssueChild(context.Background(), acct+"_control", keys.ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	child := func() keys.Issued {
		ch, err := m.IssueChild(context.Background(), acct, keys.ChildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.servers {
			if status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", ch.Secret); err != nil || status != http.StatusOK {
				t.Fatalf("warming the child: %d %s %v", status, code, err)
			}
		}
		return ch
	}

	lat := make([][]time.Duration, len(c.servers)) // per server, every time it refused in time
	record := func(got map[int]time.Duration) {
		for i, d := range got {
			lat[i] = append(lat[i], d)
		}
	}
	const (
		deleteRounds = 6
		roundSpacing = 300 * time.Millisecond
	)
	for r := range deleteRounds {
		by := r % 3
		ch := child()
		status, code, err := call(context.Background(), http.MethodDelete, c.servers[by].base+"/account/keys/"+ch.Key.ID.String(), root.Secret)
		if err != nil || status/100 != 2 {
			t.Fatalf("DELETE through server %d: %d %s %v", by+1, status, code, err)
		}
		how := fmt.Sprintf("DELETE %d through server %d", r+1, by+1)
		record(refusedWithin(t, c, []int{(by + 1) % 3, (by + 2) % 3}, ch.Secret, how, time.Now()))
		// Rounds spread over a couple of seconds, so that one stall of a
		// loaded machine stretches one server's sample, not several.
		time.Sleep(roundSpacing)
	}
	// Last, since it revokes root too.
	ch := child()
	status, code, err := call(context.Background(), http.MethodPost, c.servers[0].base+"/account/key/reissue", root.Secret)
	if err != nil || status != http.StatusOK {
		t.Fatalf("reissue through server 1: %d %s %v", status, code, err)
	}
	record(refusedWithin(t, c, []int{1, 2}, ch.Secret, "reissue through server 1", time.Now()))

	// DESIGN's bar: another instance refuses a revoked key within 250 ms.
	// Held per server on the lower median of its four or five samples
	// (sorted[(n-1)/2]), so that two samples stretched by a loaded machine
	// do not fail the run while a server slow most of the time does, even
	// if the other two are fast. A sample past refuseDeadline has failed
	// already (refusedWithin) and is missing here.
	for i, l := range lat {
		slices.Sort(l)
		if len(l) == 0 {
			continue // every sample failed, reported above
		}
		med := l[(len(l)-1)/2]
		t.Logf("server %d refused revoked children after %v (lower median %v)", i+1, roundAll(l), med.Round(time.Millisecond))
		if med > crossProcessBar {
			t.Errorf("server %d: lower median time to refuse a key revoked through another server %v, want within %v (all: %v)", i+1, med, crossProcessBar, l)
		}
	}

	// Control: revoked in the database without a notification, a key
	// every server has cached is still accepted by every one. (Each server
	// has heard of a revocation above by now, made after the control key:
	// each measured at least one.)
	for i, s := range c.servers {
		if status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", control.Secret); err != nil || status != http.StatusOK {
			t.Fatalf("server %d, warming the control key: %d %s %v", i+1, status, code, err)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec("UPDATE keys_api_keys SET revoked_at = now() WHERE id = $1", control.Key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("revoking the control key in SQL: %d rows, %v", n, err)
	}
	for i, s := range c.servers {
		if status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", control.Secret); err != nil || status != http.StatusOK {
			t.Fatalf("server %d, the silently revoked control key it has cached: %d %s %v; want 200 (no notification was sent)", i+1, status, code, err)
		}
	}
}

// roundAll rounds ds to milliseconds, for the log.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// crossProcessBar is DESIGN's bound on how soon another instance refuses
// a revoked key.
const crossProcessBar = 250 * time.Millisecond

// refusedWithin polls the servers at the given indexes with token until
// each answers key_revoked, and fails a server that took longer than
// refuseDeadline from revoked (the revoking answer). The deadline is
// generous, for a loaded machine; what it proves is that a notification
// reached the server, since its cache holds keys for an hour. The measured
// times are logged (a few milliseconds when the machine is quiet) and
// returned by server index, for every server that refused.
func refusedWithin(t *testing.T, c *cluster, servers []int, token, how string, revoked time.Time) map[int]time.Duration {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		lat = make(map[int]time.Duration, len(servers))
	)
	for _, i := range servers {
		s := c.servers[i]
		wg.Go(func() {
			for {
				status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", token)
				if err != nil {
					t.Error(err)
					return
				}
				if status == http.StatusUnauthorized && code == "key_revoked" {
					d := time.Since(revoked)
					t.Logf("%s: server %d refused the revoked child %v after the answer", how, i+1, d.Round(time.Millisecond))
					mu.Lock()
					lat[i] = d
					mu.Unlock()
					if d > refuseDeadline {
						t.Errorf("%s: server %d refused the revoked child only after %v, want within %v", how, i+1, d, refuseDeadline)
					}
					return
				}
				if d := time.Since(revoked); d > refuseDeadline {
					t.Errorf("%s: server %d still answers %d %s for the revoked child after %v", how, i+1, status, code, d)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return lat
}

// clusterQuota: three servers, each paced at 40 requests a second with a
// key of its own, against one account's monthly quota of quotaMonth.
// README states that an account overshoots its quota by at most what the
// other instances admit in two FlushIntervals: their counts reach the
// store at their flush, and this one reads them at its own. Precisely:
// when server j admits its last request at t, it has seen every count
// another server k flushed before j's last flush; what it has not seen k
// admitted within G_j + G_k + w_k before t, G being the time between a
// server's flushes (F = FlushInterval when on time) and w_k the time k's
// flush takes from taking its counts to committing them.
//
// The test checks README's bound, counted from the admissions it saw
// (the most the other two admitted in any 2F), plus a lateness allowance
// measured in the same run, logged apart: it polls each key's count in the
// database, so it sees when each server's flushes landed, and widens the
// window by what they were measured late, by the poll's own resolution
// (which also stands for w, a transaction of a few statements on
// loopback), and by the slowest answer (admissions are timed by their
// answers).
//
// The numbers, with F = 1 s and a pace of 25 ms:
//   - Counts shared: the quota is reached after about 200 / 120/s = 1.7 s;
//     the other two then admit at most 2 × (2F / 25 ms + 1) = 162 more in
//     README's two FlushIntervals (measured: 80, about half, since a
//     count is on average about one F old when read, not two).
//   - Counts not shared (each server deciding from its own count alone):
//     each admits its first 200 of the 240 it answers in 6 s, 600 in all,
//     an overshoot of 400, two and a half times README's bound.
//   - Lateness: measured 20 to 40 ms a flush here. A server whose median
//     gap between landed flushes is more than maxLate (half a
//     FlushInterval) past F fails: that is a slow or broken flush loop (a
//     server flushing every 2 s was measured 1 s late, and its overshoot
//     reached README's bound) or a machine too loaded to judge README's
//     figure, not lateness to excuse. With flushes at most that late the window is
//     2 × 1.5 s plus the poll and the slowest answer, about 3.1 s, in
//     which the other two admit at most 2 × (3.1 s / 25 ms + 1) = 250,
//     still well below 400. The test also computes what unshared counting
//     would have admitted from the answers it counted and fails if the
//     bound does not stay below that, so that servers slowed by load
//     cannot leave a run that no longer tells the two apart.
//   - No quota kept at all: 720 admitted.
func clusterQuota(t *testing.T, c *cluster, m *keys.Manager, dsn, acct string) {
	const (
		pace      = 25 * time.Millisecond // per server: at most 40 requests a second
		duration  = 6 * time.Second
		flush     = keys.DefaultFlushInterval // keys serve's
		pollEvery = 10 * time.Millisecond
		settle    = 5 * time.Second // for the last flushes to land after the run
		maxLate   = flush / 2
	)
	root := newAccount(t, m, acct, "quota")
	// One key per server, so that each key's count in the database moves
	// only when its server flushes.
	tokens, ids := []string{root.Secret}, []any{root.Key.ID.String()}
	for range 2 {
		ch, err := m.IssueChild(context.Background(), acct, keys.ChildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens, ids = append(tokens, ch.Secret), append(ids, ch.Key.ID.String())
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	began := time.Now()
	// The watcher: when each key's count in the database changed (since
	// began), and the longest time between two polls' answers.
	var (
		mu      sync.Mutex
		stored  [3]int64
		landed  [3][]time.Duration
		maxPoll time.Duration
	)
	stop, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		last := time.Now()
		for {
			counts, err := keyCounts(db, ids)
			if err != nil {
				t.Errorf("polling the usage counts: %v", err)
				return
			}
			now := time.Now()
			mu.Lock()
			maxPoll = max(maxPoll, now.Sub(last))
			for i, n := range counts {
				if n != stored[i] {
					stored[i] = n
					landed[i] = append(landed[i], now.Sub(began))
				}
			}
			mu.Unlock()
			last = now
			select {
			case <-stop:
				return
			case <-time.After(pollEvery):
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-polled
	}()

	var (
		admits    [3][]time.Duration // when each admitted answer arrived, since began
		firstSent [3]time.Duration   // when the first admitted request was sent
		answered  [3]int64
		slowest   [3]time.Duration // the longest round trip of an admitted request
		took      [3]time.Duration
	)
	var wg sync.WaitGroup
	deadline := began.Add(duration)
	for i, s := range c.servers {
		wg.Go(func() {
			defer func() { took[i] = time.Since(began) }()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				<-tick.C
				sent := time.Since(began)
				status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", tokens[i])
				at := time.Since(began)
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == http.StatusOK:
					if len(admits[i]) == 0 {
						firstSent[i] = sent
					}
					admits[i] = append(admits[i], at)
					slowest[i] = max(slowest[i], at-sent)
				case status == http.StatusTooManyRequests && code == "quota_exceeded":
				default:
					t.Errorf("quota: %d %s", status, code)
					return
				}
				answered[i]++
			}
		})
	}
	wg.Wait()

	// Every admission reaches the database, once, within a flush or so.
	var admitted [3]int64
	var total, unshared int64
	for i := range admits {
		admitted[i] = int64(len(admits[i]))
		total += admitted[i]
		// Deciding from its own count alone, a server admits every request
		// it answers until that count reaches the quota.
		unshared += min(answered[i], quotaMonth)
	}
	for end := time.Now().Add(settle); ; time.Sleep(pollEvery) {
		mu.Lock()
		got := stored
		mu.Unlock()
		if got == admitted {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%v after the run the database counts %v requests for the three servers' keys; they admitted %v, which a flush every %v should have written, each once", settle, got, admitted, flush)
		}
	}
	close(stop)
	<-polled

	// Lateness: the longest time between a server's first admission and
	// its first flush, or between two of its flushes, as landed; a change
	// is seen up to maxPoll after it committed.
	var maxGap time.Duration
	for i := range landed {
		prev := firstSent[i]
		for _, at := range landed[i] {
			maxGap = max(maxGap, at-prev)
			prev = at
		}
	}
	late := max(0, maxGap+maxPoll-flush)
	// The cap on lateness is held on each server's median gap between
	// landings (its first, from its first admission, left out): a flush
	// loop that runs slow fails it, while one stall of the machine, or of
	// the poller, only widens the allowance above, which errs loose.
	var typicalGap time.Duration
	for i := range landed {
		var gaps []time.Duration
		for j := 1; j < len(landed[i]); j++ {
			gaps = append(gaps, landed[i][j]-landed[i][j-1])
		}
		if len(gaps) > 0 {
			slices.Sort(gaps)
			typicalGap = max(typicalGap, gaps[len(gaps)/2])
		}
	}
	slow := slices.Max(slowest[:])
	readmeWindow := 2 * flush
	window := 2*(flush+late) + maxPoll + slow
	readme := othersWithin(admits, readmeWindow)
	bound := max(readme, othersWithin(admits, window))
	rates := make([]string, 3)
	for i := range answered {
		rates[i] = fmt.Sprintf("%.0f", float64(answered[i])/took[i].Seconds())
	}
	t.Logf("quota %d, 3 servers answering %s requests/s for %v: %d admitted (%v), overshoot %d", quotaMonth, strings.Join(rates, ", "), duration, total, admitted, total-quotaMonth)
	t.Logf("README's bound: the other two admitted at most %d in any %v; lateness allowance %d more (flushes landed at most %v apart, polled at most %v apart, so up to %v late each; the slowest admitted answer %v: window %v)",
		readme, readmeWindow, bound-readme, maxGap.Round(time.Millisecond), maxPoll.Round(time.Millisecond), late.Round(time.Millisecond), slow.Round(time.Millisecond), window.Round(time.Millisecond))
	t.Logf("counts not shared would have admitted %d here, an overshoot of %d", unshared, unshared-quotaMonth)
	if typicalGap > flush+maxLate {
		t.Fatalf("a server's flushes landed a median %v apart (at most %v, polled at most %v apart): want at most %v past FlushInterval %v for README's bound to be checked",
			typicalGap, maxGap, maxPoll, maxLate, flush)
	}
	if total < quotaMonth {
		t.Fatalf("quota %d: only %d admitted across 3 servers in %v: the quota was never reached", quotaMonth, total, duration)
	}
	if total-quotaMonth > int64(bound) {
		t.Fatalf("quota %d: %d admitted across 3 servers, an overshoot of %d; want at most %d (README's %d + lateness allowance %d)",
			quotaMonth, total, total-quotaMonth, bound, readme, bound-readme)
	}
	if int64(bound) >= unshared-quotaMonth {
		t.Fatalf("the bound (%d) reaches the overshoot of counts not shared (%d): this run could not tell whether the servers share counts (flushes up to %v apart, answers at %s requests/s)",
			bound, unshared-quotaMonth, maxGap, strings.Join(rates, ", "))
	}
}

// keyCounts returns the usage counts in the database of the keys ids (as
// strings), summed over months, in the order of ids; 0 for a key with none.
func keyCounts(db *sql.DB, ids []any) ([]int64, error) {
	rows, err := db.Query("SELECT key_id::text, sum(count)::bigint FROM keys_key_usage WHERE key_id IN ($1::uuid, $2::uuid, $3::uuid) GROUP BY key_id", ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := make([]int64, len(ids))
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		for i, want := range ids {
			if want == id {
				counts[i] = n
			}
		}
	}
	return counts, rows.Err()
}

// othersWithin returns the most requests that the servers other than one
// admitted within any span of w, over every choice of the one, from the
// times of their admitted answers.
func othersWithin(admits [3][]time.Duration, w time.Duration) int {
	best := 0
	for j := range admits {
		var ts []time.Duration
		for k := range admits {
			if k != j {
				ts = append(ts, admits[k]...)
			}
		}
		slices.Sort(ts)
		lo := 0
		for hi := range ts {
			for ts[hi]-ts[lo] > w {
				lo++
			}
			best = max(best, hi-lo+1)
		}
	}
	return best
}

// clusterForged: 10,000 distinct well-formed forged tokens spread over
// three fresh servers (-lookup-rate 2) cost the database no more than the
// servers' lookup budget allows in the time the flood took: at most
// rate (the budget's burst) + rate × T lookups per server, T measured, and
// at most transactionsPerLookup transactions for each. Transactions are
// counted with pg_stat_database on the test's own database
// (pg_stat_statements is not loaded here), read once every connection has
// closed, since a backend flushes its statistics when it exits: the
// servers' own startup and shutdown, measured by a run without the flood,
// are subtracted. Each store call is at least one transaction, so this
// bounds the store queries.
func clusterForged(t *testing.T, c *cluster, admin *sql.DB, name string) {
	const (
		forged  = 10_000
		servers = 3
		rate    = 2 // lookups a second per server (and the budget's burst)
		// A lookup is one query; pgx pings a connection idle for over a
		// second before reusing it (one more), and a connection the pool
		// opens for it costs its startup and the preparing of the lookup
		// statement (two more). Measured: about 2 a lookup.
		transactionsPerLookup = 4
		// Subscribe checks its idle listening connection every 30s.
		listenerPing = 30 * time.Second
		// issueBound is issue 14's figure: 10,000 forged tokens over three
		// servers cost at most 100 store queries. The derived budget is
		// tighter on a quick flood, but a loaded machine makes the pool
		// open more connections (each costs its startup), so the test
		// holds the larger of the two: the issue's bound always, and a
		// longer flood's lookups at 4 transactions each.
		issueBound = 100
	)
	flags := []string{"-lookup-rate", fmt.Sprint(rate)}
	before := transactions(t, admin, name)
	c.start(t, servers, flags...)
	c.stop(t)
	idle := transactions(t, admin, name) - before

	before = transactions(t, admin, name)
	c.start(t, servers, flags...)
	var unknown, busy atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	began := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= forged {
					return
				}
				status, code, err := call(context.Background(), http.MethodGet, c.servers[i%servers].base+"/v1/ping", tokentest.Forged())
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == http.StatusUnauthorized && code == "invalid_api_key":
					unknown.Add(1)
				case status == http.StatusServiceUnavailable && code == "service_unavailable":
					busy.Add(1)
				default:
					t.Errorf("forged token: %d %s", status, code)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(began)
	c.stop(t)
	flood := transactions(t, admin, name) - before - idle
	// Every invalid_api_key answer took a lookup (the tokens are all
	// distinct), made while the flood ran.
	lookups := servers * (rate + rate*took.Seconds())
	budget := max(issueBound, int64(transactionsPerLookup*lookups)+servers*int64(took/listenerPing))
	t.Logf("%d forged tokens over %d servers in %v: %d invalid_api_key (budget %.1f lookups), %d busy (503); %d database transactions beyond the %d of starting and stopping (budget %d)",
		forged, servers, took.Round(time.Millisecond), unknown.Load(), lookups, busy.Load(), flood, idle, budget)
	if float64(unknown.Load()) > lookups {
		t.Errorf("%d forged tokens answered unknown in %v: more lookups than %d servers at %d/s (burst %d) allow, %.1f",
			unknown.Load(), took, servers, rate, rate, lookups)
	}
	if flood > budget {
		t.Fatalf("%d forged tokens cost %d database transactions in %v, want at most %d (%d, or %d per lookup the budget allows)",
			forged, flood, took, budget, issueBound, transactionsPerLookup)
	}
	if unknown.Load() > flood {
		t.Fatalf("%d tokens answered unknown with only %d transactions: an answer without a lookup", unknown.Load(), flood)
	}
}
