#!/usr/bin/env bash
# The leaked-key benchmarks, each beside its floor in the same run:
#   keys scan over a 100 MB text file (generated in a temporary directory)
#   beside grep -c -E and grep -c -P of the same regular expression, and a
#   1,000-token GitHub secret-scanning report on SQLite beside verifying
#   its signature and looking the tokens up (and, for the all-live report,
#   one raw UPDATE of the 1,000 rows) (target: under 100 ms).
#
#   bench/leaks.sh            # COUNT=6 runs of each, medians
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-6}
{
	go test -run '^$' -bench 'Scan100MB' -count "$count" ./cmd/keys
	go test -run '^$' -bench 'SecretScanning1000' -count "$count" ./bench
} | tee /dev/stderr | awk '
function median(key,    n, i, j, t, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) {
		if ($(i + 1) == "ns/op") { cnt[name " ns"]++; val[name " ns", cnt[name " ns"]] = $i }
		if ($(i + 1) == "MB/s") { cnt[name " mbs"]++; val[name " mbs", cnt[name " mbs"]] = $i }
	}
}
END {
	print ""
	s = median("Scan100MB/KeysScan mbs")
	printf "keys scan, 100 MB      %8.0f MB/s\n", s
	if (cnt["Scan100MB/GrepE mbs"]) printf "grep -c -E, same file   %8.0f MB/s   (keys scan %.1fx)\n", median("Scan100MB/GrepE mbs"), s / median("Scan100MB/GrepE mbs")
	if (cnt["Scan100MB/GrepP mbs"]) printf "grep -c -P, same file   %8.0f MB/s   (keys scan %.1fx)\n", median("Scan100MB/GrepP mbs"), s / median("Scan100MB/GrepP mbs")
	split("AllLive Repeated Unknown", kinds, " ")
	for (k = 1; k <= 3; k++) {
		f = median("SecretScanning1000/" (k == 1 ? "FloorRevoke" : "Floor") " ns")
		v = median("SecretScanning1000/" kinds[k] " ns")
		printf "1,000-token report, %-9s %7.1f ms   floor %6.1f ms   ratio %.2f   %s\n", kinds[k], v / 1e6, f / 1e6, v / f, (v < 1e8 ? "ok (<100 ms)" : "MISSED (<100 ms)")
	}
}'
