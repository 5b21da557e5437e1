package memstore_test

import (
	"testing"

	"github.com/keyward/keys/memstore"
	"github.com/keyward/keys/store"
	"github.com/keyward/keys/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}
