"""Pharmacy traffic of the simulated months (定点药店购药, 2101/2102/2103).

Persons living away from their insured pool on a long-term filing (retirees resettled,
stationed workers, long-term residents, chronic patients) also buy drugs at designated
pharmacies of the city they filed for: ordinary purchases (med_type 41) of common
drugs, and — for a certified chronic patient at a dual-channel pharmacy (双通道) — the
drugs of their disease (med_type 14). Each purchase is pre-settled (2101) and settled
(2102) on its day; a few are resent with the same msgid, a few are cancelled (2103) the
same day (the drugs returned). Every amount comes from the services' answers.

The plan is drawn from the seed and each person's own stream (never from the persons'
hospital plan's stream), so the hospital traffic is the same with or without it, and the
purchases repeat run after run. How often people buy, and what, is modeled.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import grpc

from services.settlement.domain.bill import QUANTITY_SCALE_E4, line_amount_fen
from services.settlement.domain.pharmacy import dual_channel_pharmacies
from services.simulation.recipes import catalogue_of
from services.simulation.scenario import MsgidBook, PersonPlan, Plan, Step, StepKind, month_window
from services.simulation.settlement_info import china_day, disagreement, fund_amounts
from services.simulation.tally import SettlementRecord, Tally
from shared.grpc_errors import reason_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import pharmacy_pb2, pharmacy_pb2_grpc, settlement_pb2
from shared.reference import pharmacies

# Modeled: who buys at pharmacies, how often, what.
BUYING_COHORTS: Final = ("retiree_beihai", "stationed", "long_term_resident", "chronic_away")
# (purchases in a month, weight): about 3 a month, a pack or two of each drug.
PURCHASES_PER_MONTH: Final = ((0, 5), (1, 10), (2, 20), (3, 25), (4, 25), (5, 15))
CHRONIC_SHARE_PCT: Final = 60  # of a certified patient's purchases at a dual-channel pharmacy
RESEND_PCT: Final = 3  # 2102 resent with the same msgid (the answer was lost)
CANCEL_PCT: Final = 3  # cancelled (2103) the same day: the drugs returned
MAX_LINES: Final = 4
# Ordinary purchases: common drugs of both provinces' catalogues (codes shared), with the
# packs bought (units per pack, packs low..high).
ORDINARY_DRUGS: Final = (
    ("X02001", 28, 1, 3),  # amlodipine
    ("X01001", 60, 1, 3),  # metformin
    ("X03003", 30, 1, 3),  # aspirin
    ("X03001", 28, 1, 2),  # atorvastatin
    ("X02003", 28, 1, 3),  # irbesartan
    ("X01009", 14, 1, 2),  # dapagliflozin
    ("X03011", 14, 1, 2),  # rivaroxaban
    ("X12005", 100, 1, 1),  # vitamin C (class C)
    ("X12016", 60, 1, 2),  # calcium D3 (class C)
)
# Dual-channel drugs by disease (modeled: the diseases whose drugs pharmacies carry), a
# month's supply or more.
CHRONIC_DRUGS: Final = {
    "M03900": (("X02001", 28, 1, 3), ("X02002", 28, 1, 3), ("X02012", 28, 1, 2)),
    "M01600": (("X01001", 60, 1, 3), ("X01009", 28, 1, 2), ("X01005", 1, 2, 5)),
    "M04600": (("X03003", 30, 1, 3), ("X03005", 28, 1, 2), ("X03004", 28, 1, 3)),
}
PLANNED: Final = "pharmacy purchases planned"
SETTLED: Final = "pharmacy purchases settled"
CANCELLED: Final = "pharmacy purchases cancelled (2103)"
REFUSED: Final = "pharmacy purchases refused"
VISIT_ORDINARY: Final = "41"
VISIT_CHRONIC: Final = "41/14"  # chronic/special-disease drugs at a pharmacy (双通道)


@dataclass(frozen=True)
class Line:
    code: str
    quantity_e4: int
    price_fen: int

    @property
    def amount_fen(self) -> int:
        return line_amount_fen(self.price_fen, self.quantity_e4)


@dataclass(frozen=True)
class Purchase:
    person: int  # PersonPlan.index
    pharmacy: str
    at: datetime  # China wall time
    disease: str | None  # MTxx for chronic drugs, None for an ordinary purchase
    lines: tuple[Line, ...]
    msgids: tuple[str, str, str]  # 2101, 2102, 2103 (the last used only when cancelled)
    use_account: bool
    resend: bool
    cancel: bool

    @property
    def month(self) -> str:
        return f"{self.at:%Y%m}"

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def _pharmacies_by_pool() -> dict[str, tuple[str, ...]]:
    by: dict[str, list[str]] = {}
    for p in pharmacies():
        by.setdefault(p.pool_code, []).append(p.code)
    return {pool: tuple(sorted(codes)) for pool, codes in by.items()}


def _pool_of(p: PersonPlan, by_pool: dict[str, tuple[str, ...]], rng: random.Random) -> str | None:
    """The city the person lives in on their filing, if it has a pharmacy on file."""
    f = p.filing
    if f is None or p.cohort not in BUYING_COHORTS or f.change is not None:
        return None
    if f.cancel_at is not None or f.submit_at is None:
        return None
    if f.destination_pool is not None:
        return f.destination_pool if f.destination_pool in by_pool else None
    province = f.destination_province or ""
    # A whole-province filing: the person lives in one of its cities with a pharmacy.
    pools = sorted(pool for pool in by_pool if pool.startswith(province))
    return rng.choice(pools) if pools else None


def _lines(
    rng: random.Random, drugs: Sequence[tuple[str, int, int, int]], province: str
) -> tuple[Line, ...]:
    catalogue = catalogue_of(province)
    chosen = rng.sample(list(drugs), k=min(len(drugs), rng.randint(1, MAX_LINES)))
    lines = []
    for code, units, low, high in chosen:
        item = catalogue.lookup(code)
        if item is None:
            continue
        price = item.reference_price_fen or item.price_limit_fen or 100
        lines.append(Line(code, units * rng.randint(low, high) * QUANTITY_SCALE_E4, price))
    return tuple(lines)


def plan_purchases(plan: Plan) -> tuple[Purchase, ...]:
    """Every purchase of the run, in time order (deterministic for the plan's seed)."""
    by_pool = _pharmacies_by_pool()
    dual = dual_channel_pharmacies()
    book = MsgidBook()
    out: list[Purchase] = []
    for p in plan.persons:
        rng = random.Random(f"{plan.seed}-pharmacy-{p.index}")
        pool = _pool_of(p, by_pool, rng)
        if pool is None:
            continue
        assert p.filing is not None and p.filing.submit_at is not None
        certified = p.chronic is not None and p.certify_at is not None
        for month in plan.months:
            first, last = month_window(month)
            first = max(first, p.filing.start_date, p.filing.submit_at.date() + timedelta(1))
            if p.filing.end_date is not None:
                last = min(last, p.filing.end_date)
            counts, weights = zip(*PURCHASES_PER_MONTH, strict=True)
            count = rng.choices(counts, weights)[0]
            for _ in range(count):
                span = (last - first).days
                if span < 0:
                    break
                day = first + timedelta(days=rng.randint(0, span))
                at = datetime(day.year, day.month, day.day, rng.randint(9, 20), rng.randint(0, 59))
                pharmacy = rng.choice(by_pool[pool])
                disease = p.chronic if certified and p.chronic in CHRONIC_DRUGS else None
                chronic = (
                    disease is not None
                    and pharmacy in dual
                    and p.certify_at is not None
                    and p.certify_at < at
                    and rng.randrange(100) < CHRONIC_SHARE_PCT
                )
                drugs = CHRONIC_DRUGS[disease] if chronic and disease else ORDINARY_DRUGS
                lines = _lines(rng, drugs, pool[:2])
                if not lines:
                    continue
                msgids = (
                    book.take(pharmacy, at),
                    book.take(pharmacy, at + timedelta(seconds=30)),
                    book.take(pharmacy, at + timedelta(minutes=20)),
                )
                out.append(
                    Purchase(
                        person=p.index,
                        pharmacy=pharmacy,
                        at=at,
                        disease=disease if chronic else None,
                        lines=lines,
                        msgids=msgids,
                        use_account=p.insutype == "310",
                        resend=rng.randrange(100) < RESEND_PCT,
                        cancel=rng.randrange(100) < CANCEL_PCT,
                    )
                )
    out.sort(key=lambda x: (x.at, x.person, x.pharmacy))
    return tuple(out)


def purchase_steps(purchases: Sequence[Purchase]) -> list[Step]:
    """One step per purchase (its 2101/2102, and 2103 when cancelled), at its time."""
    return [Step(x.at, x.person, StepKind.PURCHASE, i) for i, x in enumerate(purchases)]


class PharmacyTraffic:
    """Sends a purchase as the pharmacy's system would; records what the services answered."""

    def __init__(
        self, channel: grpc.aio.Channel, clients: Any, plan: Plan, purchases: Sequence[Purchase]
    ) -> None:
        self._stub = pharmacy_pb2_grpc.PharmacySettlementServiceStub(channel)
        self._clients = clients
        self._persons = {p.index: p for p in plan.persons}
        self.purchases = tuple(purchases)

    async def purchase(self, tally: Tally, index: int) -> None:
        x = self.purchases[index]
        p = self._persons[x.person]
        header = settlement_pb2.RequestHeader(
            mdtrtarea_admvs=x.pharmacy[1:7],
            insuplc_admdvs=p.insured_pool,
            opter_type=settlement_pb2.OPERATOR_TYPE_CLERK,
        )
        body = pharmacy_pb2.Purchase(
            psn_no=p.psn_no,
            insutype=int(p.insutype),  # type: ignore[arg-type]
            med_type=(
                common_pb2.MED_TYPE_CHRONIC_OUTPATIENT
                if x.disease
                else common_pb2.MED_TYPE_PHARMACY_PURCHASE
            ),
            dise_codg=x.disease or "",
            acct_used_flag=x.use_account,
            feedetail=[
                settlement_pb2.FeeDetail(
                    feedetl_sn=n,
                    med_list_codg=line.code,
                    fee_ocur_time=x.at.date().isoformat(),
                    cnt_e4=line.quantity_e4,
                    pric_fen=line.price_fen,
                    det_item_fee_sumamt_fen=line.amount_fen,
                )
                for n, line in enumerate(x.lines, start=1)
            ],
        )
        call = self._clients.call
        try:
            header.msgid = x.msgids[0]
            pre = await call(
                self._stub.PreSettlePurchase,
                pharmacy_pb2.PreSettlePurchaseRequest(header=header, purchase=body),
                x.pharmacy,
            )
            for w in pre.warnings:
                tally.warnings[w.code] += 1
            header.msgid = x.msgids[1]
            request = pharmacy_pb2.SettlePurchaseRequest(
                header=header, purchase=body, medfee_sumamt_fen=x.amount_fen
            )
            settled = await call(self._stub.SettlePurchase, request, x.pharmacy)
            if x.resend:
                again = await call(self._stub.SettlePurchase, request, x.pharmacy)
                tally.counts["pharmacy purchases resent (same answer)"] += int(again == settled)
            self._record(tally, p, x, settled, reversal=False)
            tally.counts[SETTLED] += 1
            if x.cancel:
                header.msgid = x.msgids[2]
                cancel = pharmacy_pb2.CancelPurchaseRequest(
                    header=header,
                    setl_id=settled.setlinfo.setl_id,
                    mdtrt_id=settled.setlinfo.mdtrt_id,
                    psn_no=p.psn_no,
                )
                reply = await call(self._stub.CancelPurchase, cancel, x.pharmacy)
                self._record(tally, p, x, reply, reversal=True)
                tally.counts[CANCELLED] += 1
        except grpc.aio.AioRpcError as error:
            code = reason_of(error) or error.code().name
            if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                # The patient pays in full at the counter, as at a hospital.
                tally.counts[f"{REFUSED} ({code})"] += 1
            else:
                tally.error(f"pharmacy purchase {error.code().name} {code}", error.details() or "")

    def _record(
        self,
        tally: Tally,
        p: PersonPlan,
        x: Purchase,
        answer: pharmacy_pb2.SettlePurchaseResponse | pharmacy_pb2.CancelPurchaseResponse,
        *,
        reversal: bool,
    ) -> None:
        info = answer.setlinfo
        amounts = fund_amounts(info, answer.setldetail)
        differing = disagreement(info, amounts)
        if differing is not None:
            tally.error("setldetail funds disagree with setlinfo", f"{info.setl_id}: {differing}")
        relation = common_pb2.Relation.Name(info.relation).removeprefix("RELATION_")
        tally.settlements.append(
            SettlementRecord(
                setl_id=info.setl_id,
                reversed_setl_id=info.reversed_setl_id,
                psn_no=p.psn_no,
                cohort=p.cohort,
                hospital=x.pharmacy,
                insured_pool=info.insuplc_admdvs,
                treatment_pool=info.mdtrtarea_admvs,
                relation=relation,
                visit=VISIT_CHRONIC if x.disease else VISIT_ORDINARY,
                clr_ym=info.clr_ym,
                treatment_month=x.month,
                sim_day=china_day(info),
                medfee_fen=info.medfee_sumamt_fen,
                amounts=amounts,
                reversal=reversal,
            )
        )
