package store

import "time"

// FlushIDRetention is how long a store remembers the flushID of an
// AddUsage: a retry of the same batch within it adds nothing. Older IDs
// may be forgotten, so a retry after longer counts again. A Manager
// retries a failed flush at its next one, seconds later.
const FlushIDRetention = 24 * time.Hour
