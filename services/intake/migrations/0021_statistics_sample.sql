-- Under a surge this service's tables are young and grow by a row or more a call, so
-- autovacuum analyses most of them about once a minute. At PostgreSQL's default target (100)
-- an analyse samples 30,000 rows, which in the wider tables is nearly every page: at 97,000
-- requests, intake's took 1.1 s and the three services' together some 3 s of CPU a minute,
-- taken from calls while the two cores were full. A target of 20 samples 6,000 rows (intake's
-- requests 0.17 s, the rest about a ninth of before). The planner still gets every common
-- value of the columns queries filter by (statuses, categories, regions, consumers: fewer
-- than 20 each) and histograms in 5% steps for times and places, which is what the queries
-- here ask of it: keys, indexes and ranges. Columns that gather nothing (0) stay so; the
-- expression columns of indexes have targets of their own. A test checks that columns added
-- later are given one too (`komek_runtime::db::columns_at_default_statistics`).
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT a.attrelid::regclass AS rel, a.attname, a.attnum, r.relkind
        FROM pg_attribute a
        JOIN pg_class r ON r.oid = a.attrelid
        LEFT JOIN pg_index i ON i.indexrelid = a.attrelid
        WHERE r.relnamespace = current_schema()::regnamespace
          AND a.attnum > 0 AND NOT a.attisdropped
          AND coalesce(a.attstattarget, -1) < 0
          AND (r.relkind IN ('r', 'p') OR (r.relkind = 'i' AND i.indkey[a.attnum - 1] = 0))
    LOOP
        IF c.relkind = 'i' THEN
            EXECUTE format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS 20', c.rel, c.attnum);
        ELSE
            EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS 20', c.rel, c.attname);
        END IF;
    END LOOP;
END
$$;
