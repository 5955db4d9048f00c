-- The fund maps' entries, not only their sums: each key a fund code (lower-case letters),
-- each value a whole number of fen. A settlement's funds never include the personal
-- account (acct is the patient's own money, never fund money that clearing pays out), nor
-- hifes/oth, which no fund of the vocabulary is. Which codes are funds is the code's
-- vocabulary (shared.vocabulary.FundType): a new fund is a new key, without a migration.
CREATE FUNCTION fund_map_entries_valid(funds jsonb, allow_acct boolean) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (SELECT coalesce(bool_and(key ~ '^[a-z]{2,16}$'
                                     AND key NOT IN ('hifes', 'oth')
                                     AND (allow_acct OR key <> 'acct')
                                     AND jsonb_typeof(value) = 'number'
                                     AND value::numeric = trunc(value::numeric)), true)
              FROM jsonb_each(funds));

ALTER TABLE settlements ADD CHECK (fund_map_entries_valid(fund_pay_fen, false));
ALTER TABLE accumulations ADD CHECK (fund_map_entries_valid(fund_paid_fen, true));
