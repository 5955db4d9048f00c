-- A settlement written without a transaction (two statements: a read, then a write that
-- commits itself) writes only if the encounter and the person's year row are still the
-- row versions it read. Its write counts the rows still as read and passes the count
-- here: anything but one aborts the statement, so nothing of it is written, and the
-- settlement service decides the request again under locks. 40001 (serialization
-- failure) is what the condition is: a concurrent change since the read.

CREATE OR REPLACE FUNCTION rows_as_read(matched bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    IF matched <> 1 THEN
        RAISE EXCEPTION 'the rows changed since they were read'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN matched;
END $$;
