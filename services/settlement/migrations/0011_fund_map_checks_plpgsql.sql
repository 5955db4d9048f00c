-- The fund maps' CHECK functions (0008, 0009) as PL/pgSQL, same results. A SQL-language
-- function is parsed and planned again by every statement that calls it (PostgreSQL 15
-- caches no plan for it across statements): five such calls cost a settlement's write
-- about 0.4 ms of PostgreSQL's CPU, measured. PL/pgSQL keeps its plan per connection.

CREATE OR REPLACE FUNCTION fund_map_sum(funds jsonb) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    total numeric := 0;  -- as sum() adds: no overflow part-way through the map
    amount text;
BEGIN
    FOR amount IN SELECT value FROM jsonb_each_text(funds) LOOP
        total := total + coalesce(amount::bigint, 0);
    END LOOP;
    RETURN total::bigint;
END $$;

CREATE OR REPLACE FUNCTION fund_map_signed(funds jsonb, sign integer) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    amount text;
BEGIN
    FOR amount IN SELECT value FROM jsonb_each_text(funds) LOOP
        IF amount::bigint * sign <= 0 THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION fund_map_entries_valid(funds jsonb, allow_acct boolean)
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    entry record;
BEGIN
    FOR entry IN SELECT key, value FROM jsonb_each(funds) LOOP
        IF NOT (entry.key ~ '^[a-z]{2,16}$')
           OR entry.key IN ('hifes', 'oth')
           OR (entry.key = 'acct' AND NOT allow_acct)
           OR jsonb_typeof(entry.value) <> 'number' THEN
            RETURN false;
        END IF;
        IF entry.value::numeric <> trunc(entry.value::numeric) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END $$;
