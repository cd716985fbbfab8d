package pgmigrate

import (
	"fmt"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

// openDriver opens Atlas's Postgres driver on a database, connection or transaction.
func openDriver(db schema.ExecQuerier) (migrate.Driver, error) {
	drv, err := postgres.Open(db)
	if err != nil {
		return nil, fmt.Errorf("open atlas driver: %w", err)
	}
	return drv, nil
}
