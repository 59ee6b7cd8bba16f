-- Imported pairs bring the spreadsheet's notes about the pair: they stay here (never in an event) and go
-- with an erasure of either person, like follow-up notes.
ALTER TABLE pairs ADD COLUMN notes text NOT NULL DEFAULT '';
