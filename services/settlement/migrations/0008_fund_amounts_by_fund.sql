-- A settlement's fund amounts and a person's annual counters per fund become maps keyed by
-- the vocabulary's fund code (hifp, hifob, hifmi, cvlserv, maf, acct …) instead of one
-- column per fund, so a new fund is a new key, not a new column. Zero amounts are not
-- stored. Existing rows are moved as they are.

-- The sum of a fund map's amounts, and whether each has the sign of its record.
CREATE FUNCTION fund_map_sum(funds jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(funds));

CREATE FUNCTION fund_map_signed(funds jsonb, sign integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (SELECT coalesce(bool_and(value::bigint * sign > 0), true)
              FROM jsonb_each_text(funds));

-- Settlements: fund_pay_fen replaces hifp_pay_fen … oth_pay_fen ----------------------------
ALTER TABLE settlements ADD COLUMN fund_pay_fen jsonb;
UPDATE settlements
   SET fund_pay_fen = jsonb_strip_nulls(jsonb_build_object(
           'hifp', nullif(hifp_pay_fen, 0),
           'hifob', nullif(hifob_pay_fen, 0),
           'hifmi', nullif(hifmi_pay_fen, 0),
           'cvlserv', nullif(cvlserv_pay_fen, 0),
           'maf', nullif(maf_pay_fen, 0)));
-- No fund of the vocabulary is hifes or oth: a settlement never paid from them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM settlements WHERE hifes_pay_fen <> 0 OR oth_pay_fen <> 0) THEN
        RAISE EXCEPTION 'settlements with hifes/oth amounts: no fund of the vocabulary';
    END IF;
END $$;
-- Dropping the columns drops the checks that named them; they are restated below.
ALTER TABLE settlements
    DROP COLUMN hifp_pay_fen,
    DROP COLUMN cvlserv_pay_fen,
    DROP COLUMN hifes_pay_fen,
    DROP COLUMN hifmi_pay_fen,
    DROP COLUMN hifob_pay_fen,
    DROP COLUMN maf_pay_fen,
    DROP COLUMN oth_pay_fen,
    ALTER COLUMN fund_pay_fen SET NOT NULL,
    ADD CHECK (jsonb_typeof(fund_pay_fen) = 'object'),
    -- every fen of the bill has exactly one payer
    ADD CHECK (fund_pay_sumamt_fen = fund_map_sum(fund_pay_fen)),
    -- a settlement's parts are ≥ 0 (its funds > 0), a reversal's ≤ 0 (< 0)
    ADD CHECK (CASE kind WHEN 'SETTLEMENT' THEN
                   LEAST(fulamt_ownpay_amt_fen, overlmt_selfpay_fen, preselfpay_amt_fen,
                         inscp_scp_amt_fen, act_pay_dedc_fen, acct_pay_fen,
                         psn_cash_pay_fen) >= 0
                   AND fund_map_signed(fund_pay_fen, 1)
               ELSE
                   GREATEST(fulamt_ownpay_amt_fen, overlmt_selfpay_fen, preselfpay_amt_fen,
                            inscp_scp_amt_fen, act_pay_dedc_fen, acct_pay_fen,
                            psn_cash_pay_fen) <= 0
                   AND fund_map_signed(fund_pay_fen, -1)
               END);

-- Accumulations: fund_paid_fen replaces hifob_paid_fen, hifmi_paid_fen, maf_paid_fen and
-- acct_paid_fen (the basic fund's counters stay, split by visit type) ------------------------
ALTER TABLE accumulations ADD COLUMN fund_paid_fen jsonb NOT NULL DEFAULT '{}'::jsonb;
UPDATE accumulations
   SET fund_paid_fen = jsonb_strip_nulls(jsonb_build_object(
           'hifob', nullif(hifob_paid_fen, 0),
           'hifmi', nullif(hifmi_paid_fen, 0),
           'maf', nullif(maf_paid_fen, 0),
           'acct', nullif(acct_paid_fen, 0)));
ALTER TABLE accumulations
    DROP COLUMN hifob_paid_fen,
    DROP COLUMN hifmi_paid_fen,
    DROP COLUMN maf_paid_fen,
    DROP COLUMN acct_paid_fen,
    ADD CHECK (jsonb_typeof(fund_paid_fen) = 'object'),
    ADD CHECK (fund_map_signed(fund_paid_fen, 1));
