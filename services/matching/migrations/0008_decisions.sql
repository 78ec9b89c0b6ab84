-- Every matching decision of a request, with the groups considered, for ExplainRequest.
CREATE TABLE decisions (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     UUID NOT NULL,
    attempt        INTEGER NOT NULL,
    assignment_id  UUID,
    escalated      BOOLEAN NOT NULL,
    -- komek.events.v1.CandidateList, encoded.
    candidates     BYTEA NOT NULL,
    decided_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX decisions_request ON decisions (request_id, seq);
