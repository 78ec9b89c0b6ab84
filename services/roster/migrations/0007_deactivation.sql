-- A group that disbands or a volunteer who leaves is deactivated, not deleted: assignments,
-- statistics and audits keep naming them.
ALTER TABLE groups
    ADD COLUMN deactivated_at      TIMESTAMPTZ,
    ADD COLUMN deactivation_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE volunteers
    ADD COLUMN deactivated_at      TIMESTAMPTZ,
    ADD COLUMN deactivation_reason TEXT NOT NULL DEFAULT '';
