package kiln

import "time"

// SetStoreCallTimeout sets the bound of each store call of c's Start and
// of its registry writes (service.CallTimeout by default), for the tests
// of a store that does not answer.
func SetStoreCallTimeout(c *Client, d time.Duration) { c.storeCallTimeout = d }
