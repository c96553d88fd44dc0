// Command kiln runs and manages Kiln background jobs from the command line:
// migrate a database, serve jobs, enqueue, list and control them, run a
// demo or a benchmark. See `kiln --help`; the code is in internal/cli.
package main

import (
	"os"

	"github.com/kilnjobs/kiln/internal/cli"
)

func main() { os.Exit(cli.Execute()) }
