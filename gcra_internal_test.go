package keys

import "testing"

// gcra clamps n to 2·rate before multiplying; that is sound only while no
// full bucket holds 2·rate requests. Check the rates where the rounding of
// the interval matters most: the smallest and the largest.
func TestGCRAClampNeverAdmitsWhatDoesNotFit(t *testing.T) {
	check := func(rate int) {
		p := paramsOf(rate)
		if burst := ratePeriod / p.interval; burst >= 2*p.rate {
			t.Fatalf("rate %d: a full bucket holds %d, the clamp of %d would admit", rate, burst, 2*p.rate)
		}
		var r rateCheck
		gcra(&r, 0, 0, p, 2*p.rate)
		if r.allowed {
			t.Fatalf("rate %d: a batch of 2·rate was admitted", rate)
		}
	}
	for rate := 1; rate <= 100_000; rate++ {
		check(rate)
	}
	for rate := MaxRequestsPerMinute - 100_000; rate <= MaxRequestsPerMinute; rate++ {
		check(rate)
	}
}
