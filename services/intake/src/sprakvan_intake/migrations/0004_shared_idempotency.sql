-- Registration's own Idempotency-Key table gives way to the shared mechanism of every POST
-- (`idempotent_requests`, sprakvan_shared/idempotency.py), which returns the original response.
-- The keys recorded here kept no response: they move over without one, so that a late retry gets
-- 409 ("response lost") instead of registering the person a second time; they expire as usual.
INSERT INTO idempotent_requests (organisation_id, key, resource_id, created_at, expires_at)
SELECT organisation_id, key, participant_id::text, created_at, created_at + interval '24 hours'
FROM idempotency_keys
ON CONFLICT DO NOTHING;
DROP TABLE idempotency_keys;
