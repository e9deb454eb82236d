-- waiting = 2 marks a lease (claimed, in delivery) apart from a backoff
-- (waiting = 1), so a restarted daemon can release the leases the previous
-- process held instead of waiting them out. Both wait in deliveries_waiting.
DROP INDEX deliveries_waiting;
CREATE INDEX deliveries_waiting ON deliveries(sink, next_at) WHERE state = 0 AND waiting != 0;
UPDATE deliveries SET waiting = 2 WHERE 0; -- no row is known to be leased yet
