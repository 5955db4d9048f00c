-- Settlement: reference versions, encounters, fee lines, settlements, annual
-- accumulations, supervision warnings and the journal of hospital messages.
-- Amounts are bigint fen, ratios integer basis points; dates are China dates.

-- Reference data -------------------------------------------------------------------------
-- Immutable versions: a change is a new version with its own effective date, so every
-- settlement can name the versions it used and be recomputed from them.
CREATE TABLE catalogue_versions (
    version_id      text PRIMARY KEY,
    province_code   text        NOT NULL CHECK (province_code ~ '^[1-9][0-9]$'),
    effective_date  date        NOT NULL,
    body            jsonb       NOT NULL,  -- Catalogue.to_dict()
    body_sha256     text        NOT NULL,
    item_count      integer     NOT NULL CHECK (item_count > 0),
    loaded_by       text        NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policy_versions (
    version_id      text PRIMARY KEY,
    policy_id       text        NOT NULL,
    effective_date  date        NOT NULL,
    pool_codes      text[]      NOT NULL,
    body            jsonb       NOT NULL,  -- BenefitPolicy.to_dict()
    body_sha256     text        NOT NULL,
    loaded_by       text        NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

-- Running services reload at once instead of waiting for their periodic version check.
CREATE FUNCTION reference_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_reference', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER catalogue_versions_notify AFTER INSERT ON catalogue_versions
    FOR EACH STATEMENT EXECUTE FUNCTION reference_notify();
CREATE TRIGGER policy_versions_notify AFTER INSERT ON policy_versions
    FOR EACH STATEMENT EXECUTE FUNCTION reference_notify();

-- Encounters -----------------------------------------------------------------------------
CREATE TABLE encounters (
    mdtrt_id            text PRIMARY KEY,
    hospital_code       text        NOT NULL,
    hospital_level      smallint    NOT NULL CHECK (hospital_level BETWEEN 1 AND 3),
    treatment_pool      text        NOT NULL,
    visit_no            text        NOT NULL,  -- the hospital's ipt_otp_no / ipt_no
    med_type            text        NOT NULL CHECK (med_type IN ('11', '14', '21')),
    chronic_disease     text,
    emergency           boolean     NOT NULL,
    diag_code           text        NOT NULL DEFAULT '',
    begin_date          date        NOT NULL,
    discharge_date      date,
    state               text        NOT NULL CHECK (state IN ('OPEN', 'SETTLED', 'CANCELLED')),
    setl_id             text,       -- the standing settlement while SETTLED
    -- the person, as registered
    psn_no              text        NOT NULL,
    psn_name            text        NOT NULL,
    insured_pool        text        NOT NULL,
    insutype            text        NOT NULL CHECK (insutype IN ('310', '390')),
    person_type         text        NOT NULL,
    sex                 text        NOT NULL CHECK (sex IN ('1', '2')),
    birth_date          date        NOT NULL,
    maf_category        text,
    acct_opening_balance_fen bigint NOT NULL CHECK (acct_opening_balance_fen >= 0),
    -- the coverage decision (re-checked at settlement while refused)
    relation            text        NOT NULL,
    coverage_allowed    boolean     NOT NULL,
    coverage_basis      text        NOT NULL,
    filing_id           text        NOT NULL,
    filing_category     text        NOT NULL,
    ratio_reduction_bp  integer     NOT NULL CHECK (ratio_reduction_bp BETWEEN 0 AND 10000),
    local_ratio         boolean     NOT NULL,
    coverage_reason     text        NOT NULL,
    coverage_message    text        NOT NULL,
    coverage_checked_at timestamptz NOT NULL,
    -- standing fee lines: kept here so a limit check needs no count
    line_count          integer     NOT NULL DEFAULT 0 CHECK (line_count BETWEEN 0 AND 2000),
    line_amount_fen     bigint      NOT NULL DEFAULT 0 CHECK (line_amount_fen >= 0),
    opened_msgid        text        NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'SETTLED') = (setl_id IS NOT NULL)),
    CHECK ((med_type = '14') = (chronic_disease IS NOT NULL)),
    CHECK (discharge_date IS NULL OR (med_type = '21' AND discharge_date >= begin_date)),
    CHECK (coverage_allowed = (coverage_reason = '')),
    CHECK (psn_no LIKE insured_pool || '%')
);
-- "Admitted elsewhere": a person's open, undischarged stays.
CREATE INDEX encounters_open_stays ON encounters (psn_no)
    WHERE med_type = '21' AND state = 'OPEN' AND discharge_date IS NULL;

CREATE TABLE fee_lines (
    id              bigserial PRIMARY KEY,
    mdtrt_id        text        NOT NULL REFERENCES encounters,
    line_no         integer     NOT NULL CHECK (line_no BETWEEN 1 AND 999999),
    item_code       text        NOT NULL,
    fee_date        date        NOT NULL,
    quantity_e4     bigint      NOT NULL CHECK (quantity_e4 > 0),
    unit_price_fen  bigint      NOT NULL CHECK (unit_price_fen > 0),
    amount_fen      bigint      NOT NULL CHECK (amount_fen > 0),
    upload_msgid    text        NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    -- A cancelled line is kept for audit; its number may be uploaded again.
    cancel_msgid    text,
    cancelled_at    timestamptz,
    CHECK ((cancel_msgid IS NULL) = (cancelled_at IS NULL))
);
CREATE UNIQUE INDEX fee_lines_standing ON fee_lines (mdtrt_id, line_no)
    WHERE cancelled_at IS NULL;
CREATE INDEX fee_lines_upload ON fee_lines (upload_msgid);

-- Settlements and reversals ----------------------------------------------------------------
-- One row per settlement and one per reversal; a reversal's amounts are the negated
-- amounts of the settlement it undoes, so sums over a range are the standing totals.
CREATE TABLE settlements (
    setl_id             text PRIMARY KEY,
    kind                text        NOT NULL CHECK (kind IN ('SETTLEMENT', 'REVERSAL')),
    -- a reversal: the settlement it undoes (at most one reversal per settlement)
    reverses_setl_id    text UNIQUE REFERENCES settlements,
    -- a settlement: the reversal that undid it
    reversed_by_setl_id text UNIQUE,
    mdtrt_id            text        NOT NULL REFERENCES encounters,
    hospital_code       text        NOT NULL,
    treatment_pool      text        NOT NULL,
    psn_no              text        NOT NULL,
    insured_pool        text        NOT NULL,
    insutype            text        NOT NULL,
    med_type            text        NOT NULL,
    relation            text        NOT NULL,
    msgid               text        NOT NULL UNIQUE,  -- medins_setl_id
    setl_time           timestamptz NOT NULL,
    setl_date           date        NOT NULL,  -- China date of setl_time
    clearing_period     text        NOT NULL CHECK (clearing_period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    acc_year            smallint    NOT NULL,
    medfee_sumamt_fen       bigint NOT NULL,
    fulamt_ownpay_amt_fen   bigint NOT NULL,
    overlmt_selfpay_fen     bigint NOT NULL,
    preselfpay_amt_fen      bigint NOT NULL,
    inscp_scp_amt_fen       bigint NOT NULL,
    act_pay_dedc_fen        bigint NOT NULL,
    hifp_pay_fen            bigint NOT NULL,
    pool_prop_selfpay_bp    integer NOT NULL CHECK (pool_prop_selfpay_bp BETWEEN 0 AND 10000),
    cvlserv_pay_fen         bigint NOT NULL,
    hifes_pay_fen           bigint NOT NULL,
    hifmi_pay_fen           bigint NOT NULL,
    hifob_pay_fen           bigint NOT NULL,
    maf_pay_fen             bigint NOT NULL,
    oth_pay_fen             bigint NOT NULL,
    fund_pay_sumamt_fen     bigint NOT NULL,
    psn_part_amt_fen        bigint NOT NULL,
    acct_pay_fen            bigint NOT NULL,
    psn_cash_pay_fen        bigint NOT NULL,
    balc_fen                bigint NOT NULL CHECK (balc_fen >= 0),
    ratio_reduction_bp      integer NOT NULL,
    policy_version_id       text NOT NULL REFERENCES policy_versions,
    catalogue_version_id    text NOT NULL REFERENCES catalogue_versions,
    -- what the settlement added to the person's accumulations (AccumulationDelta)
    delta                   jsonb NOT NULL,
    -- every fee line and its split (LineSplit), so each fen can be traced
    lines                   jsonb NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'REVERSAL') = (reverses_setl_id IS NOT NULL)),
    CHECK (kind = 'SETTLEMENT' OR reversed_by_setl_id IS NULL),
    -- every fen of the bill has exactly one payer
    CHECK (medfee_sumamt_fen = fulamt_ownpay_amt_fen + overlmt_selfpay_fen
                               + preselfpay_amt_fen + inscp_scp_amt_fen),
    CHECK (fund_pay_sumamt_fen = hifp_pay_fen + cvlserv_pay_fen + hifes_pay_fen
                                 + hifmi_pay_fen + hifob_pay_fen + maf_pay_fen + oth_pay_fen),
    CHECK (medfee_sumamt_fen = fund_pay_sumamt_fen + psn_part_amt_fen),
    CHECK (psn_part_amt_fen = acct_pay_fen + psn_cash_pay_fen),
    -- a settlement's parts are ≥ 0, a reversal's ≤ 0
    CHECK ((kind = 'SETTLEMENT') = (medfee_sumamt_fen > 0)),
    CHECK (CASE kind WHEN 'SETTLEMENT' THEN
               LEAST(fulamt_ownpay_amt_fen, overlmt_selfpay_fen, preselfpay_amt_fen,
                     inscp_scp_amt_fen, act_pay_dedc_fen, hifp_pay_fen, hifmi_pay_fen,
                     hifob_pay_fen, maf_pay_fen, acct_pay_fen, psn_cash_pay_fen) >= 0
           ELSE
               GREATEST(fulamt_ownpay_amt_fen, overlmt_selfpay_fen, preselfpay_amt_fen,
                        inscp_scp_amt_fen, act_pay_dedc_fen, hifp_pay_fen, hifmi_pay_fen,
                        hifob_pay_fen, maf_pay_fen, acct_pay_fen, psn_cash_pay_fen) <= 0
           END)
);
CREATE INDEX settlements_by_hospital_date ON settlements (hospital_code, setl_date);
CREATE INDEX settlements_by_encounter ON settlements (mdtrt_id);

-- setldetail: one row per fund of a settlement (a reversal's rows are negated).
CREATE TABLE settlement_funds (
    setl_id               text    NOT NULL REFERENCES settlements,
    ordinal               smallint NOT NULL,  -- the order of payment: hifp first
    fund_pay_type         text    NOT NULL,
    inscp_scp_amt_fen     bigint  NOT NULL,
    crt_payb_lmt_amt_fen  bigint  NOT NULL,
    fund_payamt_fen       bigint  NOT NULL,
    setl_proc_info        text    NOT NULL CHECK (length(setl_proc_info) <= 500),
    PRIMARY KEY (setl_id, ordinal),
    UNIQUE (setl_id, fund_pay_type)
);

-- Annual accumulations ---------------------------------------------------------------------
-- One row per person, insurance type and settlement year, shared by every hospital. A
-- settlement locks the row (SELECT … FOR UPDATE): concurrent settlements of one person
-- queue here and nowhere else, so no cap is passed and no deductible applied twice.
CREATE TABLE accumulations (
    psn_no                          text     NOT NULL,
    insutype                        text     NOT NULL,
    acc_year                        smallint NOT NULL,
    outpatient_deductible_used_fen  bigint   NOT NULL DEFAULT 0 CHECK (outpatient_deductible_used_fen >= 0),
    hifp_basic_paid_fen             bigint   NOT NULL DEFAULT 0 CHECK (hifp_basic_paid_fen >= 0),
    hifp_outpatient_paid_fen        bigint   NOT NULL DEFAULT 0 CHECK (hifp_outpatient_paid_fen >= 0),
    chronic_hifp_paid_fen           jsonb    NOT NULL DEFAULT '{}'::jsonb,
    hifob_paid_fen                  bigint   NOT NULL DEFAULT 0 CHECK (hifob_paid_fen >= 0),
    hifmi_paid_fen                  bigint   NOT NULL DEFAULT 0 CHECK (hifmi_paid_fen >= 0),
    hifmi_selfpay_base_fen          bigint   NOT NULL DEFAULT 0 CHECK (hifmi_selfpay_base_fen >= 0),
    maf_paid_fen                    bigint   NOT NULL DEFAULT 0 CHECK (maf_paid_fen >= 0),
    acct_paid_fen                   bigint   NOT NULL DEFAULT 0 CHECK (acct_paid_fen >= 0),
    standing_settlements            integer  NOT NULL DEFAULT 0 CHECK (standing_settlements >= 0),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (psn_no, insutype, acc_year)
);

-- Supervision ------------------------------------------------------------------------------
-- Every warning returned with a pre-settlement, for post-audit (事后审核).
CREATE TABLE supervision_warnings (
    id             bigserial PRIMARY KEY,
    mdtrt_id       text        NOT NULL REFERENCES encounters,
    hospital_code  text        NOT NULL,
    psn_no         text        NOT NULL,
    msgid          text        NOT NULL,
    code           text        NOT NULL,
    line_no        integer     NOT NULL,
    message        text        NOT NULL,
    raised_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervision_warnings_encounter ON supervision_warnings (mdtrt_id);
CREATE INDEX supervision_warnings_hospital ON supervision_warnings (hospital_code, raised_at);

-- The journal of hospital messages ---------------------------------------------------------
-- One row per committed msgid (what it did, to which encounter or settlement), so a
-- correction (2601) can find and undo it. A correction of a msgid that never committed
-- inserts a TOMBSTONE row: the original arriving later conflicts on the primary key and
-- is refused.
CREATE TABLE messages (
    msgid          text PRIMARY KEY,
    hospital_code  text        NOT NULL,
    infno          text        NOT NULL,  -- national transaction number, e.g. 2207
    mdtrt_id       text,
    setl_id        text,
    state          text        NOT NULL CHECK (state IN ('DONE', 'CORRECTED', 'TOMBSTONE')),
    corrected_by   text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    corrected_at   timestamptz,
    CHECK ((state = 'DONE') = (corrected_by IS NULL))
);
