package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keys/store"
)

// ErrPepperMismatch is returned by New when Config.Pepper is not the pepper
// the store's keys were hashed with (or is set where none was used, or
// missing where one was). Such a Manager would refuse every existing key as
// unknown, and a key it issued would be refused by every correctly
// configured Manager, so New refuses to start instead.
var ErrPepperMismatch = errors.New("keys: Config.Pepper does not match the pepper this store's keys were made with")

const (
	// pepperSetting is the store setting that holds the fingerprint.
	pepperSetting = "pepper_fingerprint"
	// fingerprintLabel is what the fingerprint authenticates under the
	// pepper. The version lets a later scheme coexist.
	fingerprintLabel = "github.com/keyward/keys pepper fingerprint v1"
	// noPepper is the fingerprint of "no pepper".
	noPepper = "none"
)

// pepperFingerprint identifies a pepper without revealing it: an
// HMAC-SHA-256 of a fixed label keyed with the pepper, so that it confirms
// a guess no better than any stored key hash does, and unlike a plain hash
// of the pepper it cannot be looked up in a table of hashed common
// secrets. 128 bits tell peppers apart with certainty.
func pepperFingerprint(pepper []byte) string {
	if len(pepper) == 0 {
		return noPepper
	}
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(fingerprintLabel))
	return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// checkPepper records the fingerprint of pepper in st on first use and
// afterwards compares it with what st recorded, bounded by timeout (none
// when it is negative, as Config.StoreTimeout says).
func checkPepper(st store.Store, pepper []byte, timeout time.Duration) error {
	ctx := context.Background()
	if timeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	want := pepperFingerprint(pepper)
	got, err := st.InitSetting(ctx, pepperSetting, want)
	if err != nil {
		return fmt.Errorf("keys: reading the store's pepper fingerprint: %w", err)
	}
	switch {
	case got == want:
		return nil
	case got == noPepper:
		return fmt.Errorf("%w: the store's keys were made without a pepper, but Config.Pepper is set; "+
			"unset it (for the keys command: unset KEYS_PEPPER)", ErrPepperMismatch)
	case want == noPepper:
		return fmt.Errorf("%w: the store's keys were made with a pepper, but Config.Pepper is empty; "+
			"set the pepper the server uses (for the keys command: KEYS_PEPPER)", ErrPepperMismatch)
	default:
		return fmt.Errorf("%w: the store's keys were made with another pepper; "+
			"use the pepper the server uses (for the keys command: KEYS_PEPPER)", ErrPepperMismatch)
	}
}
