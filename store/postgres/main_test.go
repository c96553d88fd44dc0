package postgres_test

import (
	"os"
	"testing"

	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m).Run()) }
