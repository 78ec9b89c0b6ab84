-- Under a surge autovacuum analyses `decisions` about once a minute, at 0.9 s of CPU the
-- costliest analyse after intake's requests, while the two cores were full with the calls.
-- Much of it went to the statistics of columns no query of this service filters, joins,
-- sorts or groups by: the fired rules and their explanations, the notes, the figures copied
-- for the matcher. None are gathered for them (the planner's default for the type estimates
-- their width as well); the rows are still sampled for the columns whose statistics choose
-- plans (category, place, caller, times).
ALTER TABLE decisions
    ALTER COLUMN fired_rules SET STATISTICS 0,
    ALTER COLUMN fired_explanations SET STATISTICS 0,
    ALTER COLUMN volunteer_note SET STATISTICS 0,
    ALTER COLUMN note SET STATISTICS 0,
    ALTER COLUMN confidence SET STATISTICS 0,
    ALTER COLUMN rules_version SET STATISTICS 0,
    ALTER COLUMN model_version SET STATISTICS 0,
    ALTER COLUMN required_skills SET STATISTICS 0,
    ALTER COLUMN people_count SET STATISTICS 0,
    ALTER COLUMN cargo_tonnes SET STATISTICS 0,
    ALTER COLUMN quantity_value SET STATISTICS 0,
    ALTER COLUMN quantity_unit SET STATISTICS 0;
