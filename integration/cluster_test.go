package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keys"
)

// Cluster test tiers: a pool of burstRate a minute; a monthly quota of
// quotaMonth with a rate that never binds.
const (
	burstRate  = 20
	quotaMonth = 60
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
	tiers := map[string][2]int{"burst": {burstRate, 1_000_000}, "quota": {quotaRate, quotaMonth}}
	c := &cluster{bin: buildKeys(t), dsn: dsn, redis: redisURL, config: writeConfig(t, tiers)}
	// A cache TTL of an hour: only a notification (or a listener's
	// reconnect) can make a server refuse a key it has cached, however
	// slowly this test runs (clusterRevocation).
	c.start(t, 3, "-cache-ttl", "1h")

	st := openPG(t, dsn)
	m, err := keys.New(st, keys.Config{Tiers: map[keys.Tier]keys.Limits{
		"burst": {RequestsPerMinute: burstRate, RequestsPerMonth: 1_000_000},
		"quota": {RequestsPerMinute: quotaRate, RequestsPerMonth: quotaMonth},
	}})
	if err != nil {
		t.Fatal(err)
	}
	run := suffix()

	t.Run("burst", func(t *testing.T) { clusterBurst(t, c, m, "acct_burst_"+run) })
	t.Run("revocation", func(t *testing.T) { clusterRevocation(t, c, m, dsn, "acct_rev_"+run) })
	t.Run("quota", func(t *testing.T) { clusterQuota(t, c, m, "acct_quota_"+run) })
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
// other two soon after its revocation through one: DELETE
// /account/keys/{id} through server 2, then a reissue through server 1
// (which revokes every child of the account). The servers cache keys for
// an hour, so only a notification explains a refusal within seconds; a
// control key revoked behind their backs (plain SQL, no notification)
// shows that their cache did not expire or reset meanwhile.
func clusterRevocation(t *testing.T, c *cluster, m *keys.Manager, dsn, acct string) {
	root := newAccount(t, m, acct, keys.Pro)
	// The control key is made first, on an account of its own: a server
	// that has heard of a later revocation has also heard of the control
	// key's making (notifications come in commit order), which drops its
	// account's cached keys, so once cached after the revocations below it
	// stays cached.
	newAccount(t, m, acct+"_control", keys.Pro)
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

	ch := child()
	status, code, err := call(context.Background(), http.MethodDelete, c.servers[1].base+"/account/keys/"+ch.Key.ID.String(), root.Secret)
	if err != nil || status/100 != 2 {
		t.Fatalf("DELETE through server 2: %d %s %v", status, code, err)
	}
	lat := refusedWithin(t, c, []int{0, 2}, ch.Secret, "DELETE", time.Now())

	ch = child()
	status, code, err = call(context.Background(), http.MethodPost, c.servers[0].base+"/account/key/reissue", root.Secret)
	if err != nil || status != http.StatusOK {
		t.Fatalf("reissue through server 1: %d %s %v", status, code, err)
	}
	lat = append(lat, refusedWithin(t, c, []int{1, 2}, ch.Secret, "reissue", time.Now())...)
	// DESIGN's bar: another instance refuses a revoked key within 250 ms.
	// Held on the median of the four, so one sample stretched by a loaded
	// machine does not fail the run while a slow path in every one does.
	if len(lat) == 4 {
		slices.Sort(lat)
		if med := (lat[1] + lat[2]) / 2; med > crossProcessBar {
			t.Errorf("median time for another server to refuse a revoked key: %v, want within %v (all: %v)", med, crossProcessBar, lat)
		}
	}

	// Control: revoked in the database without a notification, a key
	// every server has cached is still accepted by every one. (Each server
	// has heard of a revocation above by now: server 2 and 3 of the
	// reissue, server 1 of the DELETE.)
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

// crossProcessBar is DESIGN's bound on how soon another instance refuses
// a revoked key.
const crossProcessBar = 250 * time.Millisecond

// refusedWithin polls the servers at the given indexes with token until
// each answers key_revoked, and fails a server that took longer than
// refuseDeadline from revoked (the revoking answer). The deadline is
// generous, for a loaded machine; what it proves is that a notification
// reached the server, since its cache holds keys for an hour. The measured
// times are logged (a few milliseconds when the machine is quiet) and
// returned, one per server that refused in time.
func refusedWithin(t *testing.T, c *cluster, servers []int, token, how string, revoked time.Time) []time.Duration {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		lat []time.Duration
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
					lat = append(lat, d)
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

// clusterQuota: three servers paced at 40 requests a second each against
// one account's monthly quota admit at most what README states: the quota
// plus what the other instances admit in two FlushIntervals, the time
// their counts take to reach the store (their flush) and come back (this
// one's). A loaded machine can run a flush late, so each of the two is
// allowed flushLate more; and "what the others admit" is counted at the
// rates the servers were measured to answer at, the two fastest.
func clusterQuota(t *testing.T, c *cluster, m *keys.Manager, acct string) {
	const (
		pace = 25 * time.Millisecond // per server: at most 40 requests a second
		// Long enough that a quota not kept at all (every request
		// admitted) overshoots far past the bound, whatever rate a
		// loaded machine allows: 3 × rate × 6s against 2 × rate × 4s.
		duration  = 6 * time.Second
		flush     = keys.DefaultFlushInterval // keys serve's
		flushLate = time.Second
		window    = 2 * (flush + flushLate)
	)
	root := newAccount(t, m, acct, "quota")
	var admitted, answered [3]atomic.Int64
	var took [3]time.Duration
	var wg sync.WaitGroup
	began := time.Now()
	deadline := began.Add(duration)
	for i, s := range c.servers {
		wg.Go(func() {
			defer func() { took[i] = time.Since(began) }()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				<-tick.C
				status, code, err := call(context.Background(), http.MethodGet, s.base+"/v1/ping", root.Secret)
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == http.StatusOK:
					admitted[i].Add(1)
				case status == http.StatusTooManyRequests && code == "quota_exceeded":
				default:
					t.Errorf("quota: %d %s", status, code)
					return
				}
				answered[i].Add(1)
			}
		})
	}
	wg.Wait()
	var total int64
	rates := make([]float64, 3)
	for i := range admitted {
		total += admitted[i].Load()
		rates[i] = float64(answered[i].Load()) / took[i].Seconds()
	}
	slices.Sort(rates)
	// README: an account may overshoot by what the other instances admit
	// in two FlushIntervals (here each allowed flushLate more).
	bound := int64((rates[1] + rates[2]) * window.Seconds())
	readme := 2 * int64(2*flush/pace)
	t.Logf("quota %d, 3 servers at %.0f, %.0f and %.0f requests/s: %d admitted (overshoot %d; bound %d for %v, README's %d for flushes on time at 40/s)",
		quotaMonth, rates[0], rates[1], rates[2], total, total-quotaMonth, bound, window, readme)
	if total < quotaMonth || total-quotaMonth > bound {
		t.Fatalf("quota %d: %d admitted across 3 servers, want %d to %d", quotaMonth, total, quotaMonth, quotaMonth+bound)
	}
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
				status, code, err := call(context.Background(), http.MethodGet, c.servers[i%servers].base+"/v1/ping", forgeToken())
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
	budget := int64(transactionsPerLookup*lookups) + servers*int64(took/listenerPing)
	t.Logf("%d forged tokens over %d servers in %v: %d invalid_api_key (budget %.1f lookups), %d busy (503); %d database transactions beyond the %d of starting and stopping (budget %d)",
		forged, servers, took.Round(time.Millisecond), unknown.Load(), lookups, busy.Load(), flood, idle, budget)
	if float64(unknown.Load()) > lookups {
		t.Errorf("%d forged tokens answered unknown in %v: more lookups than %d servers at %d/s (burst %d) allow, %.1f",
			unknown.Load(), took, servers, rate, rate, lookups)
	}
	if flood > budget {
		t.Fatalf("%d forged tokens cost %d database transactions in %v, want at most %d (%d per lookup the budget allows)",
			forged, flood, took, budget, transactionsPerLookup)
	}
	if unknown.Load() > flood {
		t.Fatalf("%d tokens answered unknown with only %d transactions: an answer without a lookup", unknown.Load(), flood)
	}
}

// forgeToken returns a well-formed sk_live_ token with a valid checksum
// that no key has.
func forgeToken() string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [43]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = base62[int(b[i])%62]
	}
	b[0] = '0' // below 2^256
	s := "sk_live_" + string(b[:])
	sum := crc32.ChecksumIEEE([]byte(s))
	var cs [6]byte
	for i := 5; i >= 0; i-- {
		cs[i] = base62[sum%62]
		sum /= 62
	}
	return s + string(cs[:])
}
