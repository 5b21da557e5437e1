#!/usr/bin/env bash
# Runs the benchmark suite, each benchmark beside its floor, and prints the
# median of every pair and their ratio against the targets in the README
# ("Performance").
#
#   bench/run.sh                 # COUNT=6 runs of each benchmark
#   COUNT=10 bench/run.sh        # more runs on a noisy machine
#   benchstat bench/results.txt  # the raw output, in benchstat's format
#
# With KEYS_TEST_POSTGRES_DSN set, the PostgreSQL lookups are measured too;
# with KEYS_TEST_REDIS_URL, redislimiter (BenchmarkRedisPaired's x-floor is
# the same ratio measured pairwise, steadier on a loaded machine).
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
out=${OUT:-bench/results.txt}
pkgs=(. ./bench ./httpadapter ./sqlitestore)
if [[ -n "${KEYS_TEST_POSTGRES_DSN:-}" ]]; then
	pkgs+=(./pgstore)
fi
# With KEYS_TEST_REDIS_URL set, redislimiter beside a raw EVALSHA.
if [[ -n "${KEYS_TEST_REDIS_URL:-}" ]]; then
	pkgs+=(./redislimiter)
fi

{
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(go version)"
	echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
} >"$out"
go test -run '^$' -bench . -benchmem -count "$count" "${pkgs[@]}" | tee -a "$out"

# pair: "package benchmark floor target kind", kind is
#   ratio  (ns/op of the benchmark over its floor's, at most target)
#   rps    (req/s of the benchmark over its floor's, at least target)
#   abs    (ns/op of the benchmark alone, at most target; no floor)
#   paired (the x-* ratio a paired benchmark reports itself, at most target)
awk -v pairs="
keys Authenticate Floor 2.0 ratio
keys AuthenticateParallel FloorParallel 2.0 ratio
bench SQLiteAuthenticateWarm SQLiteFloor 2.0 ratio
bench SQLiteAuthenticateWarmParallel SQLiteFloorParallel 2.0 ratio
bench SQLiteAuthenticateMiss SQLiteAuthenticateMissFloor 1.5 ratio
bench SQLiteAuthenticateMiss SQLiteAuthenticateMissFloorNoDeadline - ratio
sqlitestore ResolveHash ResolveHashFloor 1.5 ratio
pgstore ResolveHash ResolveHashFloor - ratio
pgstore NotifyLatency - 250000000 abs
httpadapter GetAccountKey GetAccountKeyFloorSameHeaders - ratio
httpadapter SessionJWT/JWKSVerifier.ES256 SessionJWT/floor=ecdsa.Verify - ratio
httpadapter UsageRoute1000Keys UsageRoute1000KeysFloor - ratio
bench SQLiteUsage1000Keys SQLiteUsage1000KeysFloor - ratio
bench SQLiteUsagePerKeyQueries SQLiteUsage1000KeysFloor - ratio
bench LoopbackGetAccountKey LoopbackGetAccountKeyFloor 0.8 rps
bench LoopbackForgedTokens LoopbackValidKey 0.9 rps
bench LoopbackForgedPaired - 0.9 xvalid
keys Allow - 100 abs
keys AllowParallel - 100 abs
keys AuthenticateAllow - - abs
keys AuthenticateAllowMetricsOn AuthenticateAllowMetricsOff 1.1 ratio
keys AuthenticateAllowMetricsOn Floor 2.6 ratio
keys AuthenticateAllowMetricsPaired - 1.1 paired
sqlitestore ReplaceRootKey10000Children - 50000000 abs
sqlitestore RotateGrace10000Children - 50000000 abs
keys AuthenticateRichKey AuthenticatePlainKey 1.1 ratio
keys HasScope32 - 20 abs
keys HasScope32 HasScope32Floor - ratio
keys AllowsAddr32 - 50 abs
keys AllowsAddr32 AllowsAddr32Floor - ratio
redislimiter Redis/Allow Redis/floor=raw-evalsha 1.3 ratio
" '
function median(key,    n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { cnt[key]++; val[key, cnt[key]] = v }
/^pkg: / { pkg = $2; sub(".*/", "", pkg); if (pkg == "keys" && $2 !~ /\/keys$/) pkg = $2; next }
/^Benchmark/ {
	name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) {
		if ($(i + 1) == "ns/op") add(pkg " " name " ns", $i)
		if ($(i + 1) == "req/s") add(pkg " " name " rps", $i)
		if ($(i + 1) == "allocs/op") add(pkg " " name " allocs", $i)
		if ($(i + 1) ~ /^x-/) add(pkg " " name " x", $i)

		if ($(i + 1) == "x-valid") add(pkg " " name " xvalid", $i)
	}
}
function human(ns) { return ns >= 1e6 ? sprintf("%.1f ms", ns / 1e6) : ns >= 1e3 ? sprintf("%.1f µs", ns / 1e3) : sprintf("%.0f ns", ns) }
END {
	printf "\n%-14s %-32s %11s %11s %7s %8s  %s\n", "package", "benchmark (median)", "value", "floor", "ratio", "target", "allocs"
	n = split(pairs, lines, "\n")
	for (l = 1; l <= n; l++) {
		if (split(lines[l], f, " ") < 5) continue
		p = f[1]; b = f[2]; fl = f[3]; tgt = f[4]; kind = f[5]
		if (kind == "rps") {
			v = median(p " " b " rps"); w = median(p " " fl " rps")
			if (v == "" || w == "") continue
			r = v / w; ok = (tgt == "-") ? "" : (r >= tgt ? "ok" : "MISSED")
			printf "%-14s %-32s %7.0f r/s %7.0f r/s %7.2f %8s  %s %s\n", p, b, v, w, r, (tgt == "-" ? "" : ">=" tgt), median(p " " b " allocs"), ok
		} else if (kind == "paired") {
			r = median(p " " b " x")
			if (r == "") continue
			ok = (tgt == "-") ? "" : (r <= tgt ? "ok" : "MISSED")
			printf "%-14s %-32s %11s %11s %7.2f %8s  %s %s\n", p, b, "", "", r, (tgt == "-" ? "" : "<=" tgt "x"), median(p " " b " allocs"), ok

		} else if (kind == "xvalid") {
			# A ratio the benchmark measured itself (forged over valid
			# requests served at once): at least target.
			v = median(p " " b " xvalid")
			if (v == "") continue
			printf "%-14s %-32s %11s %11s %7.2f %8s  %s\n", p, b, "", "", v, ">=" tgt, (v >= tgt ? "ok" : "MISSED")
		} else if (kind == "abs") {
			v = median(p " " b " ns")
			if (v == "") continue
			ok = (tgt == "-") ? "" : (v <= tgt ? "ok" : "MISSED")
			printf "%-14s %-32s %11s %11s %7s %8s  %s %s\n", p, b, human(v), "", "", (tgt == "-" ? "" : "<" human(tgt)), median(p " " b " allocs"), ok
		} else {
			v = median(p " " b " ns"); w = median(p " " fl " ns")
			if (v == "" || w == "") continue
			r = v / w; ok = (tgt == "-") ? "" : (r <= tgt ? "ok" : "MISSED")
			printf "%-14s %-32s %11s %11s %7.2f %8s  %s %s\n", p, b, human(v), human(w), r, (tgt == "-" ? "" : "<=" tgt "x"), median(p " " b " allocs"), ok
		}
	}
}' "$out"
