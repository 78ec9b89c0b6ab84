-- Under a surge autovacuum analyses `assignments` and `jobs` about once a minute (0.6 and
-- 0.3 s of CPU) while the two cores were full with the calls. Much of it went to the
-- statistics of columns no query of this service filters, joins, sorts or groups by: the
-- notes and reasons written for people, the trace context, the figures of the job. None are
-- gathered for them (the planner's default for the type estimates their width as well); the
-- rows are still sampled for the columns whose statistics choose plans (request, group,
-- status, times, place).
ALTER TABLE assignments
    ALTER COLUMN reason SET STATISTICS 0,
    ALTER COLUMN note SET STATISTICS 0,
    ALTER COLUMN proof_uri SET STATISTICS 0,
    ALTER COLUMN traceparent SET STATISTICS 0,
    ALTER COLUMN volunteer_note SET STATISTICS 0,
    ALTER COLUMN reference_code SET STATISTICS 0,
    ALTER COLUMN required_skills SET STATISTICS 0,
    ALTER COLUMN distance_m SET STATISTICS 0,
    ALTER COLUMN people_count SET STATISTICS 0,
    ALTER COLUMN cargo_tonnes SET STATISTICS 0,
    ALTER COLUMN quantity_value SET STATISTICS 0,
    ALTER COLUMN quantity_unit SET STATISTICS 0;
ALTER TABLE jobs
    ALTER COLUMN volunteer_note SET STATISTICS 0,
    ALTER COLUMN reference_code SET STATISTICS 0,
    ALTER COLUMN required_skills SET STATISTICS 0,
    ALTER COLUMN people_count SET STATISTICS 0,
    ALTER COLUMN cargo_tonnes SET STATISTICS 0,
    ALTER COLUMN quantity_value SET STATISTICS 0,
    ALTER COLUMN quantity_unit SET STATISTICS 0;
