-- A request is what the caller said (its body: the note, the place, the sealed contact, the
-- idempotency fingerprint; some 1.1 KB) and how it is going (its progress: status, triage,
-- assignment, timestamps, version; some 350 bytes). The body is written once; the progress
-- three or four times in the request's first minute (triaged, offered, accepted). In one row,
-- every change of progress wrote a new version of the whole 1.1 KB row, so a page held three
-- or four requests with room for their next versions (fillfactor 50), and a trigger copied
-- the status into the narrow rows the queues are indexed by (0018, 0024). Under a surge
-- autovacuum then pruned every page of the wide table after each checkpoint, writing a full
-- page image of each: 10,000 images, 37 MB of WAL in six seconds, while the calls waited for
-- their commits (BENCHMARKS.md, run AZ).
--
-- Now the body lives in `request_bodies` (the table that was `requests`, less the progress,
-- filled to the brim: its rows are not rewritten), the progress in `request_progress` (one
-- narrow row a request, which its changes rewrite on its page), and the view `requests` joins
-- them one to one, so every read of a request is as it was. The service writes the two
-- tables itself; the view's triggers let any other writer (an operator's statement, the
-- release before during a rolling upgrade) insert and update through it as before.
--
-- The progress keeps a copy of the creation time, which never changes, for the queues' index
-- (by stage, then newest first).

CREATE TABLE request_progress (
    id                            UUID PRIMARY KEY,
    created_at                    TIMESTAMPTZ NOT NULL,
    updated_at                    TIMESTAMPTZ NOT NULL DEFAULT now(),
    version                       BIGINT NOT NULL DEFAULT 1,
    status                        SMALLINT NOT NULL,
    -- The status, or 0 for all those a request may wait in (0024): the queues' key.
    stage                         SMALLINT NOT NULL GENERATED ALWAYS AS (request_stage(status)) STORED,
    category                      SMALLINT NOT NULL DEFAULT 0,
    priority                      SMALLINT NOT NULL DEFAULT 0,
    outcome                       SMALLINT NOT NULL DEFAULT 0,
    assignment_status             SMALLINT NOT NULL DEFAULT 0,
    required_skills               SMALLINT[] NOT NULL DEFAULT '{}',
    possible_duplicate_of         UUID,
    merged_into                   UUID,
    organizations                 UUID[] NOT NULL DEFAULT '{}',
    triaged_at                    TIMESTAMPTZ,
    escalated_at                  TIMESTAMPTZ,
    assigned_at                   TIMESTAMPTZ,
    resolved_at                   TIMESTAMPTZ,
    closed_at                     TIMESTAMPTZ,
    deferred_until                TIMESTAMPTZ,
    assignment_id                 UUID,
    assignment_group              TEXT NOT NULL DEFAULT '',
    assignment_group_name         TEXT NOT NULL DEFAULT '',
    assignment_distance_m         DOUBLE PRECISION NOT NULL DEFAULT 0,
    assignment_expire_at          TIMESTAMPTZ,
    assignment_updated_at         TIMESTAMPTZ,
    assignment_organization       UUID,
    assignment_organization_name  TEXT NOT NULL DEFAULT '',
    cancel_reason                 TEXT NOT NULL DEFAULT '',
    cancelled_by                  TEXT NOT NULL DEFAULT '',
    waiting_since                 TIMESTAMPTZ,
    waiting_alerts                INTEGER NOT NULL DEFAULT 0,
    waiting_limit_secs            INTEGER NOT NULL DEFAULT 0,
    waiting_alerted_at            TIMESTAMPTZ,
    erased_at                     TIMESTAMPTZ,
    erased_by                     TEXT NOT NULL DEFAULT '',
    erase_reason                  TEXT NOT NULL DEFAULT ''
) WITH (fillfactor = 50);

INSERT INTO request_progress (id, created_at, updated_at, version, status, category, priority,
    outcome, assignment_status, required_skills, possible_duplicate_of, merged_into,
    organizations, triaged_at, escalated_at, assigned_at, resolved_at, closed_at,
    deferred_until, assignment_id, assignment_group, assignment_group_name,
    assignment_distance_m, assignment_expire_at, assignment_updated_at,
    assignment_organization, assignment_organization_name, cancel_reason, cancelled_by,
    waiting_since, waiting_alerts, waiting_limit_secs, waiting_alerted_at, erased_at, erased_by,
    erase_reason)
SELECT id, created_at, updated_at, version, status, category, priority,
    outcome, assignment_status, required_skills, possible_duplicate_of, merged_into,
    organizations, triaged_at, escalated_at, assigned_at, resolved_at, closed_at,
    deferred_until, assignment_id, assignment_group, assignment_group_name,
    assignment_distance_m, assignment_expire_at, assignment_updated_at,
    assignment_organization, assignment_organization_name, cancel_reason, cancelled_by,
    waiting_since, waiting_alerts, waiting_limit_secs, waiting_alerted_at, erased_at, erased_by,
    erase_reason
FROM requests;

-- The indexes that named progress move with it.
CREATE INDEX request_progress_stage ON request_progress (stage, created_at DESC, id DESC);
CREATE INDEX request_progress_waiting ON request_progress (waiting_since)
    WHERE waiting_since IS NOT NULL;
CREATE INDEX request_progress_to_erase ON request_progress ((coalesce(closed_at, resolved_at)))
    WHERE erased_at IS NULL AND coalesce(closed_at, resolved_at) IS NOT NULL;

DROP TRIGGER request_statuses_insert ON requests;
DROP TRIGGER request_statuses_update ON requests;
DROP FUNCTION request_statuses_insert();
DROP FUNCTION request_statuses_update();
DROP TABLE request_statuses;

ALTER TABLE requests RENAME TO request_bodies;
ALTER TABLE request_bodies
    DROP COLUMN updated_at,
    DROP COLUMN version,
    DROP COLUMN status,
    DROP COLUMN category,
    DROP COLUMN priority,
    DROP COLUMN outcome,
    DROP COLUMN assignment_status,
    DROP COLUMN required_skills,
    DROP COLUMN possible_duplicate_of,
    DROP COLUMN merged_into,
    DROP COLUMN organizations,
    DROP COLUMN triaged_at,
    DROP COLUMN escalated_at,
    DROP COLUMN assigned_at,
    DROP COLUMN resolved_at,
    DROP COLUMN closed_at,
    DROP COLUMN deferred_until,
    DROP COLUMN assignment_id,
    DROP COLUMN assignment_group,
    DROP COLUMN assignment_group_name,
    DROP COLUMN assignment_distance_m,
    DROP COLUMN assignment_expire_at,
    DROP COLUMN assignment_updated_at,
    DROP COLUMN assignment_organization,
    DROP COLUMN assignment_organization_name,
    DROP COLUMN cancel_reason,
    DROP COLUMN cancelled_by,
    DROP COLUMN waiting_since,
    DROP COLUMN waiting_alerts,
    DROP COLUMN waiting_limit_secs,
    DROP COLUMN waiting_alerted_at,
    DROP COLUMN erased_at,
    DROP COLUMN erased_by,
    DROP COLUMN erase_reason;
-- Written once (erasure and a change of key rewrite a row, rarely): new pages are filled.
ALTER TABLE request_bodies SET (fillfactor = 100);

CREATE VIEW requests AS
SELECT b.id, b.idempotency_key, b.create_payload, b.reference_code, b.channel,
    b.caller_anonymous, b.caller_language, b.lat, b.lon, b.address, b.settlement, b.district,
    b.region, b.description, b.operator_category, b.operator_priority, b.people_count,
    b.quantity_value, b.quantity_unit, b.wanted_start, b.wanted_end, b.caller_name_enc,
    b.caller_phone_enc, b.caller_key_id, b.caller_blind_index, b.volunteer_note, b.created_at,
    p.updated_at, p.version, p.status, p.stage, p.category, p.priority, p.outcome,
    p.assignment_status, p.required_skills, p.possible_duplicate_of, p.merged_into,
    p.organizations, p.triaged_at, p.escalated_at, p.assigned_at, p.resolved_at, p.closed_at,
    p.deferred_until, p.assignment_id, p.assignment_group, p.assignment_group_name,
    p.assignment_distance_m, p.assignment_expire_at, p.assignment_updated_at,
    p.assignment_organization, p.assignment_organization_name, p.cancel_reason, p.cancelled_by,
    p.waiting_since, p.waiting_alerts, p.waiting_limit_secs, p.waiting_alerted_at, p.erased_at,
    p.erased_by, p.erase_reason
FROM request_bodies b
JOIN request_progress p ON p.id = b.id;

-- An insert through the view takes the tables' defaults for what it leaves out.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT DISTINCT ON (a.attname) a.attname, pg_get_expr(d.adbin, d.adrelid) AS def
        FROM pg_attrdef d
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid IN ('request_bodies'::regclass, 'request_progress'::regclass)
          AND a.attgenerated = ''
    LOOP
        EXECUTE format('ALTER VIEW requests ALTER COLUMN %I SET DEFAULT %s', c.attname, c.def);
    END LOOP;
END
$$;

-- A request whose id, idempotency key or reference code is taken is not inserted, as the
-- release before asks (`ON CONFLICT DO NOTHING`, then it looks for the earlier request): the
-- trigger cannot tell whether a statement asked so, and a retry must not fail.
CREATE FUNCTION requests_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO request_bodies (id, idempotency_key, create_payload, reference_code, channel,
        caller_anonymous, caller_language, lat, lon, address, settlement, district, region,
        description, operator_category, operator_priority, people_count, quantity_value,
        quantity_unit, wanted_start, wanted_end, caller_name_enc, caller_phone_enc,
        caller_key_id, caller_blind_index, volunteer_note, created_at)
    VALUES (NEW.id, NEW.idempotency_key, NEW.create_payload, NEW.reference_code, NEW.channel,
        NEW.caller_anonymous, NEW.caller_language, NEW.lat, NEW.lon, NEW.address,
        NEW.settlement, NEW.district, NEW.region, NEW.description, NEW.operator_category,
        NEW.operator_priority, NEW.people_count, NEW.quantity_value, NEW.quantity_unit,
        NEW.wanted_start, NEW.wanted_end, NEW.caller_name_enc, NEW.caller_phone_enc,
        NEW.caller_key_id, NEW.caller_blind_index, NEW.volunteer_note, NEW.created_at)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO request_progress (id, created_at, updated_at, version, status, category,
        priority, outcome, assignment_status, required_skills, possible_duplicate_of,
        merged_into, organizations, triaged_at, escalated_at, assigned_at, resolved_at,
        closed_at, deferred_until, assignment_id, assignment_group, assignment_group_name,
        assignment_distance_m, assignment_expire_at, assignment_updated_at,
        assignment_organization, assignment_organization_name, cancel_reason, cancelled_by,
        waiting_since, waiting_alerts, waiting_limit_secs, waiting_alerted_at, erased_at,
        erased_by, erase_reason)
    VALUES (NEW.id, NEW.created_at, NEW.updated_at, NEW.version, NEW.status, NEW.category,
        NEW.priority, NEW.outcome, NEW.assignment_status, NEW.required_skills,
        NEW.possible_duplicate_of, NEW.merged_into, NEW.organizations, NEW.triaged_at,
        NEW.escalated_at, NEW.assigned_at, NEW.resolved_at, NEW.closed_at, NEW.deferred_until,
        NEW.assignment_id, NEW.assignment_group, NEW.assignment_group_name,
        NEW.assignment_distance_m, NEW.assignment_expire_at, NEW.assignment_updated_at,
        NEW.assignment_organization, NEW.assignment_organization_name, NEW.cancel_reason,
        NEW.cancelled_by, NEW.waiting_since, NEW.waiting_alerts, NEW.waiting_limit_secs,
        NEW.waiting_alerted_at, NEW.erased_at, NEW.erased_by, NEW.erase_reason);
    NEW.stage := request_stage(NEW.status);
    RETURN NEW;
END
$$;

-- Each table is written only when a column of its own changed: a change of status leaves the
-- body alone. The view's rows are not locked by an update through it; writers that read
-- first lock them (`SELECT ... FOR UPDATE`), as every statement of the service does.
CREATE FUNCTION requests_update() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF (NEW.id, NEW.idempotency_key, NEW.create_payload, NEW.reference_code, NEW.channel,
        NEW.caller_anonymous, NEW.caller_language, NEW.lat, NEW.lon, NEW.address,
        NEW.settlement, NEW.district, NEW.region, NEW.description, NEW.operator_category,
        NEW.operator_priority, NEW.people_count, NEW.quantity_value, NEW.quantity_unit,
        NEW.wanted_start, NEW.wanted_end, NEW.caller_name_enc, NEW.caller_phone_enc,
        NEW.caller_key_id, NEW.caller_blind_index, NEW.volunteer_note, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.idempotency_key, OLD.create_payload, OLD.reference_code, OLD.channel,
        OLD.caller_anonymous, OLD.caller_language, OLD.lat, OLD.lon, OLD.address,
        OLD.settlement, OLD.district, OLD.region, OLD.description, OLD.operator_category,
        OLD.operator_priority, OLD.people_count, OLD.quantity_value, OLD.quantity_unit,
        OLD.wanted_start, OLD.wanted_end, OLD.caller_name_enc, OLD.caller_phone_enc,
        OLD.caller_key_id, OLD.caller_blind_index, OLD.volunteer_note, OLD.created_at)
    THEN
        UPDATE request_bodies SET (id, idempotency_key, create_payload, reference_code, channel,
            caller_anonymous, caller_language, lat, lon, address, settlement, district, region,
            description, operator_category, operator_priority, people_count, quantity_value,
            quantity_unit, wanted_start, wanted_end, caller_name_enc, caller_phone_enc,
            caller_key_id, caller_blind_index, volunteer_note, created_at)
        = (NEW.id, NEW.idempotency_key, NEW.create_payload, NEW.reference_code, NEW.channel,
            NEW.caller_anonymous, NEW.caller_language, NEW.lat, NEW.lon, NEW.address,
            NEW.settlement, NEW.district, NEW.region, NEW.description, NEW.operator_category,
            NEW.operator_priority, NEW.people_count, NEW.quantity_value, NEW.quantity_unit,
            NEW.wanted_start, NEW.wanted_end, NEW.caller_name_enc, NEW.caller_phone_enc,
            NEW.caller_key_id, NEW.caller_blind_index, NEW.volunteer_note, NEW.created_at)
        WHERE id = OLD.id;
    END IF;
    IF (NEW.id, NEW.created_at, NEW.updated_at, NEW.version, NEW.status, NEW.category,
        NEW.priority, NEW.outcome, NEW.assignment_status, NEW.required_skills,
        NEW.possible_duplicate_of, NEW.merged_into, NEW.organizations, NEW.triaged_at,
        NEW.escalated_at, NEW.assigned_at, NEW.resolved_at, NEW.closed_at, NEW.deferred_until,
        NEW.assignment_id, NEW.assignment_group, NEW.assignment_group_name,
        NEW.assignment_distance_m, NEW.assignment_expire_at, NEW.assignment_updated_at,
        NEW.assignment_organization, NEW.assignment_organization_name, NEW.cancel_reason,
        NEW.cancelled_by, NEW.waiting_since, NEW.waiting_alerts, NEW.waiting_limit_secs,
        NEW.waiting_alerted_at, NEW.erased_at, NEW.erased_by, NEW.erase_reason)
       IS DISTINCT FROM
       (OLD.id, OLD.created_at, OLD.updated_at, OLD.version, OLD.status, OLD.category,
        OLD.priority, OLD.outcome, OLD.assignment_status, OLD.required_skills,
        OLD.possible_duplicate_of, OLD.merged_into, OLD.organizations, OLD.triaged_at,
        OLD.escalated_at, OLD.assigned_at, OLD.resolved_at, OLD.closed_at, OLD.deferred_until,
        OLD.assignment_id, OLD.assignment_group, OLD.assignment_group_name,
        OLD.assignment_distance_m, OLD.assignment_expire_at, OLD.assignment_updated_at,
        OLD.assignment_organization, OLD.assignment_organization_name, OLD.cancel_reason,
        OLD.cancelled_by, OLD.waiting_since, OLD.waiting_alerts, OLD.waiting_limit_secs,
        OLD.waiting_alerted_at, OLD.erased_at, OLD.erased_by, OLD.erase_reason)
    THEN
        UPDATE request_progress SET (id, created_at, updated_at, version, status, category,
            priority, outcome, assignment_status, required_skills, possible_duplicate_of,
            merged_into, organizations, triaged_at, escalated_at, assigned_at, resolved_at,
            closed_at, deferred_until, assignment_id, assignment_group, assignment_group_name,
            assignment_distance_m, assignment_expire_at, assignment_updated_at,
            assignment_organization, assignment_organization_name, cancel_reason,
            cancelled_by, waiting_since, waiting_alerts, waiting_limit_secs,
            waiting_alerted_at, erased_at, erased_by, erase_reason)
        = (NEW.id, NEW.created_at, NEW.updated_at, NEW.version, NEW.status, NEW.category,
            NEW.priority, NEW.outcome, NEW.assignment_status, NEW.required_skills,
            NEW.possible_duplicate_of, NEW.merged_into, NEW.organizations, NEW.triaged_at,
            NEW.escalated_at, NEW.assigned_at, NEW.resolved_at, NEW.closed_at,
            NEW.deferred_until, NEW.assignment_id, NEW.assignment_group,
            NEW.assignment_group_name, NEW.assignment_distance_m, NEW.assignment_expire_at,
            NEW.assignment_updated_at, NEW.assignment_organization,
            NEW.assignment_organization_name, NEW.cancel_reason, NEW.cancelled_by,
            NEW.waiting_since, NEW.waiting_alerts, NEW.waiting_limit_secs,
            NEW.waiting_alerted_at, NEW.erased_at, NEW.erased_by, NEW.erase_reason)
        WHERE id = OLD.id;
    END IF;
    NEW.stage := request_stage(NEW.status);
    RETURN NEW;
END
$$;

CREATE TRIGGER requests_insert INSTEAD OF INSERT ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_insert();
CREATE TRIGGER requests_update INSTEAD OF UPDATE ON requests
    FOR EACH ROW EXECUTE FUNCTION requests_update();

-- Statistics as for every table here (0019, 0021): none for the words people wrote, a small
-- sample for the rest.
ALTER TABLE request_progress
    ALTER COLUMN cancel_reason SET STATISTICS 0,
    ALTER COLUMN cancelled_by SET STATISTICS 0,
    ALTER COLUMN erased_by SET STATISTICS 0,
    ALTER COLUMN erase_reason SET STATISTICS 0;
ALTER INDEX request_progress_to_erase ALTER COLUMN 1 SET STATISTICS 20;
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = 'request_progress'::regclass
          AND a.attnum > 0 AND NOT a.attisdropped AND coalesce(a.attstattarget, -1) < 0
    LOOP
        EXECUTE format('ALTER TABLE request_progress ALTER COLUMN %I SET STATISTICS 20',
            c.attname);
    END LOOP;
END
$$;
