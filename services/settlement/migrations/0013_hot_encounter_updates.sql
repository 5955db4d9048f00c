-- A settlement's update of its encounter (state, setl_id) and a discharge's (discharge_date)
-- can be heap-only (HOT: no new entry in any index) only if no index names a column they
-- change, a partial index's predicate included. Two partial indexes named state and
-- discharge_date, so every settlement and discharge wrote a new entry in each of the
-- encounter's five indexes. Their predicates now name med_type alone, which never changes;
-- the queries they serve ("admitted elsewhere": open undischarged stays; 5205: settled
-- chronic visits) keep their conditions on state and discharge_date and check them on the
-- rows of the person, who has few. Pages keep room for those updates (fillfactor 85: new
-- pages; existing ones as they are rewritten). The indexes are built under a write lock on
-- encounters: on a large table, in a maintenance window.

DROP INDEX encounters_open_stays;
CREATE INDEX encounters_open_stays ON encounters (psn_no) WHERE med_type = '21';

DROP INDEX encounters_chronic_settled;
CREATE INDEX encounters_chronic_settled ON encounters (psn_no) WHERE med_type = '14';

ALTER TABLE encounters SET (fillfactor = 85);
