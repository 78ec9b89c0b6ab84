-- When an organisation takes non-urgent work (komek.types.v1.WeeklySchedule, encoded); NULL:
-- always. Every group of the organisation carries it in its published state.
ALTER TABLE organizations ADD COLUMN office_hours BYTEA;
