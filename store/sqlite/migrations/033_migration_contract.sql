-- 033_migration_contract: kiln_migration records, for each contract
-- migration applied ("-- kiln:contract N", store/internal/migrate), its
-- N: builds whose last migration is before N would meet a schema they
-- cannot run on, and SchemaCheck (from this build on) refuses it, so that
-- a process of such a build started after the contract migration stops at
-- its start instead of failing its statements. Other migrations record 0.
-- A column with a constant default changes the schema only.
ALTER TABLE kiln_migration ADD COLUMN contract INTEGER NOT NULL DEFAULT 0;
