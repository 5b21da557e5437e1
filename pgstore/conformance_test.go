package pgstore_test

import (
	"testing"

	"github.com/keyward/keys/store"
	"github.com/keyward/keys/store/storetest"
)

func TestConformance(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, freshDSN(t)) })
}
