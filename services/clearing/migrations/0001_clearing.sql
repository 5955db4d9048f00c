-- Clearing: periods, the ledger, statements, disputes and adjustments, netting, payment
-- instructions, advance funds and hospitals' clearing applications.
--
-- Money is bigint fen. Periods are 'YYYYMM' text (they sort chronologically as text).

-- One row per period that anything has touched; a period without a row is OPEN.
-- The row is the cut-off fence: recording ledger entries takes FOR KEY SHARE on the
-- period rows it reads, closing takes FOR UPDATE on its row, so the two serialise and
-- every event lands in exactly one period. Later month-end steps take FOR NO KEY UPDATE,
-- which does not conflict with FOR KEY SHARE: a long generation never stalls ingestion.
CREATE TABLE periods (
    period             text PRIMARY KEY CHECK (period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    state              text NOT NULL DEFAULT 'OPEN'
                       CHECK (state IN ('OPEN', 'CLOSED', 'GENERATED', 'DELIVERED', 'NETTED', 'SETTLED')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    generated_at       timestamptz,
    delivered_at       timestamptz,
    netted_at          timestamptz,
    settled_at         timestamptz,
    statements_digest  text,
    CHECK ((state = 'OPEN') = (closed_at IS NULL))
);

-- Every month-end step taken, no-ops included: who did what, when.
CREATE TABLE period_actions (
    id         bigserial PRIMARY KEY,
    period     text NOT NULL REFERENCES periods,
    action     text NOT NULL,
    caller     text NOT NULL,
    no_op      boolean NOT NULL,
    detail     text NOT NULL DEFAULT '',
    acted_at   timestamptz NOT NULL DEFAULT now()
);

-- The ledger: one row per (settlement event, cleared fund) with a non-zero amount.
-- amount_fen is what the insured pool owes the treatment pool: positive for a
-- settlement, negative for a reversal. Same-pool settlements never appear here.
-- Per fund and pool pair: SELECT insured_pool, treatment_pool, fund, sum(amount_fen)
-- FROM ledger GROUP BY 1, 2, 3.
CREATE TABLE ledger (
    id                bigserial PRIMARY KEY,
    period            text NOT NULL REFERENCES periods,  -- the clearing period it landed in
    event_period      text NOT NULL,                     -- the period settlement assigned
    late              boolean NOT NULL,
    event_id          text NOT NULL,
    setl_id           text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('SETTLED', 'REVERSED')),
    reversed_setl_id  text,
    insured_pool      text NOT NULL,
    treatment_pool    text NOT NULL,
    level             text NOT NULL CHECK (level IN ('PROVINCIAL', 'NATIONAL')),
    hospital_code     text NOT NULL,
    fund              text NOT NULL CHECK (fund IN ('hifp', 'hifob', 'hifmi', 'cvlserv', 'maf', 'acct')),
    amount_fen        bigint NOT NULL CHECK (amount_fen <> 0),
    settle_time       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (insured_pool <> treatment_pool),
    CHECK (late = (period <> event_period)),
    CHECK (period >= event_period),  -- a late event lands after its own period, never before
    CHECK ((kind = 'SETTLED') = (amount_fen > 0)),
    CHECK ((kind = 'REVERSED') = (reversed_setl_id IS NOT NULL)),
    -- Exactly once, by construction, beyond the inbox: an event's fund is recorded once,
    -- and a settlement (or its reversal) cannot be recorded under a second event id.
    UNIQUE (event_id, fund),
    UNIQUE (setl_id, kind, fund)
);
CREATE INDEX ledger_by_period ON ledger (period, insured_pool, treatment_pool);
CREATE INDEX ledger_by_hospital ON ledger (hospital_code, event_period);

-- Statements: the canonical bytes are the statement; the other columns are a summary
-- of them for lists and checks.
CREATE TABLE statements (
    statement_id      text PRIMARY KEY,
    period            text NOT NULL REFERENCES periods,
    insured_pool      text NOT NULL,
    treatment_pool    text NOT NULL,
    level             text NOT NULL CHECK (level IN ('PROVINCIAL', 'NATIONAL')),
    state             text NOT NULL
                      CHECK (state IN ('GENERATED', 'DELIVERED', 'CONFIRMED', 'DISPUTED', 'RESOLVED')),
    confirmed_by      text[] NOT NULL DEFAULT '{}',
    disputed_by       text[] NOT NULL DEFAULT '{}',
    settlement_count  integer NOT NULL CHECK (settlement_count >= 0),
    reversal_count    integer NOT NULL CHECK (reversal_count >= 0),
    late_count        integer NOT NULL CHECK (late_count >= 0),
    adjustment_count  integer NOT NULL CHECK (adjustment_count >= 0),
    line_count        integer NOT NULL CHECK (line_count = settlement_count + reversal_count),
    net_fen           bigint NOT NULL,
    disputed_fen      bigint NOT NULL DEFAULT 0,
    disputed_lines    integer NOT NULL DEFAULT 0 CHECK (disputed_lines BETWEEN 0 AND line_count),
    funds             jsonb NOT NULL,
    canonical         bytea NOT NULL,
    digest            text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    generated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    UNIQUE (period, insured_pool, treatment_pool),
    CHECK (insured_pool <> treatment_pool)
);

-- The lines of each statement, for paging and for marking disputed settlements.
CREATE TABLE statement_lines (
    statement_id      text NOT NULL REFERENCES statements ON DELETE CASCADE,
    line_no           integer NOT NULL CHECK (line_no >= 1),
    setl_id           text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('SETTLED', 'REVERSED')),
    reversed_setl_id  text,
    event_id          text NOT NULL,
    hospital_code     text NOT NULL,
    event_period      text NOT NULL,
    late              boolean NOT NULL,
    settle_time       timestamptz NOT NULL,
    amounts           jsonb NOT NULL,
    total_fen         bigint NOT NULL,
    disputed_by       text CHECK (disputed_by IN ('INSURED', 'TREATMENT')),
    dispute_reason    text,
    disputed_at       timestamptz,
    PRIMARY KEY (statement_id, line_no),
    UNIQUE (statement_id, setl_id, kind)
);
CREATE INDEX statement_lines_disputed ON statement_lines (statement_id) WHERE disputed_by IS NOT NULL;

-- A decided disputed line, carried into target_period's statement for the same pair.
-- target_period is fixed at decision time (the earliest period not yet generated), so
-- regenerating a period never picks up a decision made after its first generation.
CREATE TABLE adjustments (
    origin_statement_id  text NOT NULL REFERENCES statements,
    setl_id              text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('SETTLED', 'REVERSED')),
    origin_period        text NOT NULL,
    insured_pool         text NOT NULL,
    treatment_pool       text NOT NULL,
    target_period        text NOT NULL REFERENCES periods,
    outcome              text NOT NULL CHECK (outcome IN ('REJECTED', 'UPHELD', 'AMENDED')),
    canonical            jsonb NOT NULL,   -- the domain Adjustment's canonical form
    total_fen            bigint NOT NULL,
    decided_by           text NOT NULL,
    decided_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin_statement_id, setl_id, kind),
    CHECK (target_period > origin_period)
);
CREATE INDEX adjustments_by_target ON adjustments (target_period, insured_pool, treatment_pool);

-- Netting results: positions per leg and scope (a province, or NATIONAL), and the
-- payer → receiver matrix they come from.
CREATE TABLE net_positions (
    period          text NOT NULL REFERENCES periods,
    leg             text NOT NULL CHECK (leg IN ('PROVINCIAL', 'NATIONAL', 'ALLOCATION')),
    scope           text NOT NULL,
    party           text NOT NULL,
    receivable_fen  bigint NOT NULL CHECK (receivable_fen >= 0),
    payable_fen     bigint NOT NULL CHECK (payable_fen >= 0),
    net_fen         bigint NOT NULL CHECK (net_fen = receivable_fen - payable_fen),
    PRIMARY KEY (period, leg, scope, party)
);

CREATE TABLE net_cells (
    period      text NOT NULL REFERENCES periods,
    leg         text NOT NULL CHECK (leg IN ('PROVINCIAL', 'NATIONAL')),
    scope       text NOT NULL,
    payer       text NOT NULL,
    receiver    text NOT NULL,
    amount_fen  bigint NOT NULL,
    PRIMARY KEY (period, leg, scope, payer, receiver)
);

CREATE TABLE payment_instructions (
    instruction_id     text PRIMARY KEY,
    period             text NOT NULL REFERENCES periods,
    seq                integer NOT NULL,
    leg                text NOT NULL CHECK (leg IN ('PROVINCIAL', 'NATIONAL', 'ALLOCATION')),
    scope              text NOT NULL,
    payer              text NOT NULL,
    payee              text NOT NULL,
    amount_fen         bigint NOT NULL CHECK (amount_fen > 0),
    state              text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'PAID')),
    payment_reference  text,
    paid_by            text,
    paid_at            timestamptz,
    CHECK (payer <> payee),
    CHECK ((state = 'PAID') = (paid_at IS NOT NULL)),
    UNIQUE (period, seq)
);
CREATE INDEX payment_instructions_payer ON payment_instructions (payer, period);
CREATE INDEX payment_instructions_payee ON payment_instructions (payee, period);

-- Advance funds (预付金) per pool pair: the insured side pre-pays the treatment side.
CREATE TABLE advance_funds (
    insured_pool    text NOT NULL,
    treatment_pool  text NOT NULL,
    advance_fen     bigint NOT NULL CHECK (advance_fen >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (insured_pool, treatment_pool),
    CHECK (insured_pool <> treatment_pool)
);

-- Every change to an advance fund; a top-up's id makes a retried top-up a no-op.
CREATE TABLE advance_fund_changes (
    id              bigserial PRIMARY KEY,
    insured_pool    text NOT NULL,
    treatment_pool  text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('SET', 'SIZED', 'TOP_UP')),
    change_fen      bigint NOT NULL,
    advance_fen     bigint NOT NULL CHECK (advance_fen >= 0),
    top_up_id       text UNIQUE,
    note            text NOT NULL DEFAULT '',
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'TOP_UP') = (top_up_id IS NOT NULL))
);

-- Usage of the advance per pair and period (the sum of the pair's ledger amounts that
-- landed in it), kept by the consumer in the transaction that records the entries,
-- with the thresholds already alerted (each once per period).
CREATE TABLE advance_usage (
    insured_pool    text NOT NULL,
    treatment_pool  text NOT NULL,
    period          text NOT NULL,
    used_fen        bigint NOT NULL,
    alerted_bp      integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (insured_pool, treatment_pool, period)
);

-- Hospitals' monthly clearing applications (3203) and their differences with the ledger.
CREATE TABLE applications (
    application_id    uuid PRIMARY KEY,
    hospital_code     text NOT NULL,
    period            text NOT NULL,
    state             text NOT NULL CHECK (state IN ('ACTIVE', 'CANCELLED')),
    items_digest      text NOT NULL,
    item_count        integer NOT NULL,
    application_fen   bigint NOT NULL,
    ledger_item_count integer NOT NULL,
    ledger_fen        bigint NOT NULL,
    difference_count  integer NOT NULL,
    submitted_by      text NOT NULL,
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at      timestamptz,
    cancel_reason     text,
    CHECK ((state = 'CANCELLED') = (cancelled_at IS NOT NULL))
);
-- One active application per hospital and month: another needs a cancellation (3204).
CREATE UNIQUE INDEX applications_active ON applications (hospital_code, period) WHERE state = 'ACTIVE';

CREATE TABLE application_differences (
    application_id   uuid NOT NULL REFERENCES applications,
    setl_id          text NOT NULL,
    kind             text NOT NULL
                     CHECK (kind IN ('MISSING_IN_LEDGER', 'MISSING_IN_APPLICATION', 'AMOUNT_MISMATCH')),
    application_fen  bigint,
    ledger_fen       bigint,
    PRIMARY KEY (application_id, setl_id)
);
