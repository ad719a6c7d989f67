"""The true lives of a synthetic population: who they are, when they are in the country.

Each person gets a mobility type covering the whole range of the UN framework (Annex I of
E/CN.3/2021/11): residents who holiday abroad, births and deaths, emigrating and returning
citizens, long-term immigrants (work, family, study), tourists and business visitors,
seasonal workers, cross-border workers, circular movers, health and training visitors,
asylum seekers in transit and overstayers (the hidden population).

A life is a set of disjoint *presence intervals* ``[a, b]`` per person (days since
1970-01-01): present at the end of day d when a <= d < b (RESIDENCE.md "Days present"), an
arrival on a and a departure on b. ``a = PRE`` (long before the start) means present at the
start with no crossing; ``b = POST`` (long after the end) means still present at the end (or
died in the country) with no crossing. The true crossings are the interval ends, so they
alternate in/out by construction. Everything is vectorised over persons (numpy), never a
Python object per person.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .defects import NONE
from .names import NATIONALITIES

#: Mobility types and their default shares of the persons.
TYPES: dict[str, float] = {
    "native_resident": 0.385, "birth": 0.03, "emigrant_citizen": 0.04,
    "returning_citizen": 0.03, "foreign_resident": 0.08, "immigrant_work": 0.05,
    "immigrant_family": 0.03, "student": 0.03, "tourist": 0.15, "business_visitor": 0.05,
    "seasonal_worker": 0.025, "cross_border_worker": 0.005, "circular_mover": 0.025,
    "health_visitor": 0.01, "training_visitor": 0.01, "asylum_transit": 0.01,
    "overstayer": 0.04,
}
TYPE_NAMES: tuple[str, ...] = tuple(TYPES)
T = {name: i for i, name in enumerate(TYPE_NAMES)}
RESIDENT_AT_START = ("native_resident", "birth", "emigrant_citizen", "foreign_resident")

PURPOSES: tuple = (None, "work", "seasonal_work", "study", "training", "health", "family",
                   "tourism", "business", "asylum", "transit", "other")
P = {name: i for i, name in enumerate(PURPOSES)}

NAT = {code: i for i, code in enumerate(NATIONALITIES)}


def _weights(**w: float) -> np.ndarray:
    v = np.zeros(len(NATIONALITIES))
    for k, x in w.items():
        v[NAT[k]] = x
    return v / v.sum()


W_FOREIGN = _weights(CHN=12, IND=10, PHL=6, GBR=10, AUS=12, USA=8, RUS=2, UKR=2, EGY=1, SYR=1,
                     PAK=2, VNM=3, FJI=4, WSM=4, TON=3, DEU=5, BRA=2, MEX=1, KOR=4, JPN=4, FRA=3,
                     ESP=2)
W_SEASONAL = _weights(FJI=25, WSM=25, TON=25, VNM=10, PHL=10, IND=5)
W_STUDENT = _weights(CHN=35, IND=25, KOR=10, JPN=8, VNM=8, DEU=4, FRA=3, BRA=4, USA=3)
W_ASYLUM = _weights(SYR=30, EGY=15, PAK=20, UKR=20, RUS=15)
W_OVERSTAY = _weights(TON=15, WSM=15, FJI=10, CHN=15, IND=15, PHL=10, MEX=5, BRA=5, VNM=5, PAK=5)
W_BORDER = _weights(AUS=80, FJI=10, GBR=10)
NAT_WEIGHTS = {"seasonal_worker": W_SEASONAL, "student": W_STUDENT, "asylum_transit": W_ASYLUM,
               "overstayer": W_OVERSTAY, "cross_border_worker": W_BORDER}

#: visa categories (visa file codes)
VISA_CATEGORIES = ("visitor", "work", "seasonal_work", "student", "partner", "resident",
                   "training", "medical", "transit")


def to_days(date: str) -> int:
    return int(np.datetime64(date, "D").astype(np.int64))


def allocate(n: int, rng: np.random.Generator) -> np.ndarray:
    """Type code per person: counts fixed by the shares (each type at least once when n allows),
    order shuffled."""
    shares = np.array(list(TYPES.values()))
    counts = np.floor(shares * n).astype(int)
    if n >= len(shares):
        counts = np.maximum(counts, 1)
    counts[0] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(shares)), counts)).astype(np.int8)


class Lives:
    """Simulate ``n`` persons' lives between ``start`` and ``end``.

    Attributes after :meth:`simulate`: ``persons`` (DataFrame, one row per person),
    ``stays`` (pid, a, b, purpose: presence intervals), ``visas`` (pid, category, purpose,
    valid_from, valid_to; −1 = none) — all dates as int days.
    """

    def __init__(self, n: int, rng: np.random.Generator, start: str, end: str,
                 renewal: float = 0.35, country: str = "NZL"):
        self.n, self.rng = n, rng
        self.home = NAT[country]
        self.S, self.E = to_days(start), to_days(end)
        # sentinels far outside the period, so that no real day can be mistaken for them
        self.PRE, self.POST = self.S - 100_000, self.E + 100_000
        self.renewal = renewal
        self.Y0 = int(np.datetime64(self.S, 'D').astype('datetime64[Y]').astype(int)) + 1970
        self.Y1 = int(np.datetime64(self.E, 'D').astype('datetime64[Y]').astype(int)) + 1970
        self.NY = self.Y1 - self.Y0 + 1
        self._iv: list[tuple] = []       # (pid, a, b, purpose, res_like)
        self._abs: list[tuple] = []      # explicit absences (pid, l, r) inside res_like intervals
        self._visas: list[tuple] = []    # (pid, cat, purpose, vf, vt)

    # -- helpers ---------------------------------------------------------------------------
    def _w(self, w):
        w = w.copy()
        w[self.home] = 0
        return w / w.sum()

    def U(self, lo, hi, size=None):
        """Uniform integers in [lo, hi] (arrays allowed)."""
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
        if size is None:
            size = np.broadcast(lo, hi).shape
        return lo + (self.rng.random(size) * (hi - lo + 1)).astype(np.int64)

    def add(self, pid, a, b, purpose, res_like=False):
        pid = np.asarray(pid)
        k = len(pid)
        self._iv.append((pid, np.broadcast_to(a, k).astype(np.int64),
                         np.broadcast_to(b, k).astype(np.int64),
                         np.broadcast_to(np.int8(purpose), k).astype(np.int8),
                         np.broadcast_to(res_like, k).astype(bool)))

    def visa(self, pid, cat, purpose, vf, vt):
        pid = np.asarray(pid)
        k = len(pid)
        self._visas.append((pid, np.broadcast_to(np.int8(VISA_CATEGORIES.index(cat)), k),
                            np.broadcast_to(np.int8(P[purpose]), k),
                            np.broadcast_to(vf, k).astype(np.int64),
                            np.broadcast_to(vt, k).astype(np.int64)))

    def needs_visa(self, pid):
        return ~np.isin(self.nat_code[pid], self._waiver)

    def year_start(self, y):
        years = (np.asarray(y) - 1970).astype("datetime64[Y]")
        return years.astype("datetime64[D]").astype(np.int64)

    # -- persons ---------------------------------------------------------------------------
    def simulate(self) -> "Lives":
        from .names import VISA_WAIVER, sample_names
        rng, n, S, E = self.rng, self.n, self.S, self.E
        self._waiver = np.array([NAT[c] for c in VISA_WAIVER])
        mtype = allocate(n, rng)
        self.mtype = mtype
        tname = np.array(TYPE_NAMES)[mtype]
        sex = np.where(rng.random(n) < 0.5, "F", "M")
        sex = np.where((mtype == T["seasonal_worker"]) & (rng.random(n) < 0.6), "M", sex)
        # nationality at birth
        nat = np.full(n, self.home, dtype=np.int16)
        foreign = ~np.isin(tname, ["native_resident", "birth", "emigrant_citizen",
                                   "returning_citizen"])
        u = rng.random(n)
        cdf_general = np.cumsum(self._w(W_FOREIGN))
        nat[foreign] = np.searchsorted(cdf_general, u[foreign] * cdf_general[-1])
        for t, w in NAT_WEIGHTS.items():
            m = mtype == T[t]
            cdf = np.cumsum(self._w(w))
            nat[m] = np.searchsorted(cdf, u[m] * cdf[-1])
        nat = np.minimum(nat, len(NATIONALITIES) - 1)
        # citizens born abroad (naturalised before the start, or by descent)
        citizen_types = np.isin(tname, ["native_resident", "emigrant_citizen",
                                        "returning_citizen"])
        fb = citizen_types & (rng.random(n) < np.where(mtype == T["native_resident"], 0.12, 0.25))
        birth_country = nat.copy()
        alt_nat = np.minimum(np.searchsorted(cdf_general, rng.random(n) * cdf_general[-1]),
                             len(NATIONALITIES) - 1)
        birth_country[fb] = alt_nat[fb]
        name_nat = np.where(fb, birth_country, nat)      # names follow the family's origin
        # ages
        age = np.select(
            [mtype == T["native_resident"], np.isin(mtype, [T["student"]]),
             mtype == T["seasonal_worker"],
             np.isin(mtype, [T["tourist"], T["business_visitor"], T["health_visitor"]])],
            [92 * rng.beta(1.2, 1.6, n), 18 + 10 * rng.beta(2, 4, n), 20 + 25 * rng.beta(2, 2, n),
             18 + 60 * rng.beta(2, 2, n)],
            22 + 35 * rng.beta(2, 3, n))
        birth = (S - age * 365.25 - rng.integers(0, 365, n)).astype(np.int64)
        is_birth = mtype == T["birth"]
        birth[is_birth] = self.U(S, E - 1, is_birth.sum())
        # deaths among residents
        p_die = np.clip((age - 55) / 35, 0, 1) * 0.3 + 0.004
        dies = np.isin(mtype, [T["native_resident"], T["foreign_resident"]])
        dies &= rng.random(n) < p_die
        death = np.full(n, NONE, dtype=np.int64)
        death[dies] = self.U(S, E, dies.sum())
        # naturalisation of foreign residents (recorded in the register)
        nat_date = np.full(n, NONE, dtype=np.int64)
        natz = (mtype == T["foreign_resident"]) & (rng.random(n) < 0.3)
        nat_date[natz] = self.U(S + 180, E - 180, natz.sum())
        natz &= (death < 0) | (nat_date < death)
        nat_date[~natz] = NONE
        citizen_start = citizen_types.copy()
        self.nat_code = nat
        self.birth, self.death = birth, death
        persons = pd.DataFrame({
            "pid": np.arange(n), "mobility_type": tname, "sex": sex,
            "birth": birth, "death": death, "nat": nat, "birth_country": birth_country,
            "name_nat": name_nat, "native_born": birth_country == self.home,
            "citizen_start": citizen_start, "naturalisation": nat_date,
            "hidden": mtype == T["overstayer"],
            "initial_status": np.where(np.isin(tname, RESIDENT_AT_START), "resident",
                                       "non_resident"),
        })
        persons["given"] = sample_names(name_nat, sex, rng, "given")
        has_mid = rng.random(n) < 0.25
        mid = sample_names(name_nat, sex, rng, "given")
        persons["middle"] = np.where(has_mid & (mid != persons["given"].to_numpy()), mid, -1)
        persons["family"] = sample_names(name_nat, sex, rng, "family")
        # passports: first number, renewal date, renewed number; NZL passport after naturalising
        persons["passport1"] = self._passports(n)
        persons["passport2"] = self._passports(n)
        persons["passport_nz"] = self._passports(n)
        ren = np.full(n, self.POST + 1, dtype=np.int64)
        renew = rng.random(n) < self.renewal
        ren[renew] = self.U(S, E, renew.sum())
        persons["renewal"] = ren
        self.persons = persons
        self._lives()
        return self

    def _passports(self, n):
        """Passport numbers as int codes: letter pair (0..675) * 10^7 + seven digits (the
        text, e.g. 'LA1234567', is made per record by :func:`sources.passport_text`)."""
        return self.rng.integers(0, 676, n) * 10_000_000 + self.rng.integers(0, 10_000_000, n)

    # -- lives by type -------------------------------------------------------------------------
    def _lives(self):
        rng, S, E, PRE, POST = self.rng, self.S, self.E, self.PRE, self.POST
        mt = self.mtype
        ids = {t: np.flatnonzero(mt == T[t]) for t in TYPE_NAMES}

        # residents at the start: present throughout, holidays abroad
        for t in ("native_resident", "birth"):
            self.add(ids[t], PRE, POST, 0, True)
        fr = ids["foreign_resident"]
        leave = rng.random(len(fr)) < 0.12
        self.add(fr[~leave], PRE, POST, 0, True)
        self._emigrate(fr[leave])
        self._emigrate(ids["emigrant_citizen"])

        # returning citizens: abroad at the start, come back for good
        p = ids["returning_citizen"]
        ret = self.U(S + 30, E - 60, len(p))
        vis = (rng.random(len(p)) < 0.3) & (ret - 200 > S + 10)
        va = self.U(S, ret - 200)
        self.add(p[vis], va[vis], va[vis] + self.U(5, 20, vis.sum()), 0)
        self.add(p, ret, POST, 0, True)

        # long-term immigrants: work and family (partner) visas, then residence
        for t, cat, purpose, years in (("immigrant_work", "work", "work", 3),
                                       ("immigrant_family", "partner", "family", 2)):
            p = ids[t]
            k = len(p)
            arr = self.U(S + 1, E - 60, k)
            prior = (rng.random(k) < 0.25) & (arr - 150 > S)
            pa = self.U(S, arr - 150)
            pb = pa + self.U(5, 25, k)
            self.add(p[prior], pa[prior], pb[prior], P["tourism"])
            m = prior & self.needs_visa(p)
            vf0 = pa - self.U(5, 40, k)
            self.visa(p[m], "visitor", "tourism", vf0[m], vf0[m] + 90)
            dep = arr + self.U(500, 1500, k)
            dep = np.where((rng.random(k) < 0.12) & (dep <= E - 1), dep, POST)
            self.add(p, arr, dep, P[purpose], True)
            vf = arr - self.U(10, 60, k)
            vt = vf + 365 * years
            self.visa(p, cat, purpose, vf, vt)
            res = vt - 30 < np.minimum(dep, E)
            self.visa(p[res], "resident", purpose, (vt - 30)[res], NONE)

        # students: multi-year study visa, summer breaks at home
        p = ids["student"]
        k = len(p)
        y0 = self.U(self.Y0, self.Y1, k)
        arr = self.year_start(y0) + self.U(30, 60, k)
        ok = arr < E - 60
        p, arr, y0 = p[ok], arr[ok], y0[ok]
        k = len(p)
        dur = self.U(2, 4, k)
        planned = self.year_start(y0 + dur - 1) + self.U(300, 330, k)
        dep = np.where(planned <= E, planned, POST)
        self.add(p, arr, dep, P["study"], False)
        vf = arr - self.U(10, 40, k)
        self.visa(p, "student", "study", vf, planned + 30)
        yrs = np.repeat(np.arange(self.NY)[None, :], k, 0)
        bl = self.year_start(self.Y0 + yrs) + 334 + self.U(0, 20, yrs.shape)
        br = bl + self.U(30, 70, yrs.shape)
        keep = (bl > arr[:, None] + 30) & (br < dep[:, None] - 30) & (br <= E - 1)
        self._abs.append((np.repeat(p, self.NY)[keep.ravel()], bl[keep], br[keep]))

        # tourists: 1-3 trips in different years
        p = ids["tourist"]
        self._trips_by_year(p, rng.choice([1, 2, 3], len(p), p=[0.6, 0.3, 0.1]), "tourism")

        # business visitors: 2-10 short trips in different quarters
        p = ids["business_visitor"]
        k = len(p)
        nq = self._n_quarters()
        ntrip = self.U(2, 10, k)
        order = np.argsort(rng.random((k, nq)), axis=1)
        take = np.arange(nq)[None, :] < ntrip[:, None]
        q = order[take]
        pid = np.repeat(p, ntrip)
        a = self.qstart[q] + self.U(0, 70, len(q))
        b = a + self.U(1, 12, len(q))
        ok = b <= E
        self.add(pid[ok], a[ok], b[ok], P["business"])
        m = ok & self.needs_visa(pid)
        vf = a - self.U(5, 40, len(q))
        self.visa(pid[m], "visitor", "business", vf[m], vf[m] + 90)

        # seasonal workers: a season of 4-7 months every year for several years
        p = ids["seasonal_worker"]
        k = len(p)
        y0 = self.U(self.Y0, self.Y1 - 2, k)
        ns = self.U(2, self.Y1 + 1 - y0)
        pid = np.repeat(p, ns)
        yr = np.repeat(y0, ns) + _cumcount(ns)
        a = self.year_start(yr) + self.U(265, 280, len(pid))
        b = a + self.U(120, 200, len(pid))
        b = np.where(b <= E, b, POST)
        self.add(pid, a, b, P["seasonal_work"])
        vf = a - self.U(7, 30, len(pid))
        self.visa(pid, "seasonal_work", "seasonal_work", vf, vf + 214)

        # cross-border workers: weekly (Mon-Fri) or daily commuting for a work spell
        p = ids["cross_border_worker"]
        k = len(p)
        daily = rng.random(k) < 0.3
        w0 = self.U(S, E - 120, k)
        w0 = w0 - ((w0 + 3) % 7)                        # a Monday (1970-01-01 was a Thursday)
        w0 = np.where(w0 < S, w0 + 7, w0)
        length = np.where(daily, self.U(60, 240, k), self.U(90, 540, k))
        w1 = np.minimum(w0 + length, E - 1)
        nweeks = (w1 - w0) // 7
        pid = np.repeat(p, nweeks)
        wk = np.repeat(w0, nweeks) + 7 * _cumcount(nweeks)
        dly = np.repeat(daily, nweeks)
        wpid, wa = pid[~dly], wk[~dly]
        self.add(wpid, wa, wa + 4, P["work"])
        dpid = np.repeat(pid[dly], 5)
        da = np.repeat(wk[dly], 5) + np.tile(np.arange(5), dly.sum())
        self.add(dpid, da, da, P["work"])
        vf = w0 - self.U(5, 30, k)
        self.visa(p, "work", "work", vf, w1 + 30)

        # circular movers: entries in most quarters of their active years
        p = ids["circular_mover"]
        k = len(p)
        y0 = self.U(self.Y0, self.Y1 - 1, k)
        y1 = self.U(y0 + 1, self.Y1)
        pq = np.repeat(p, nq)
        q = np.tile(np.arange(nq), k)
        qy = self.Y0 + q // 4
        on = (qy >= np.repeat(y0, nq)) & (qy <= np.repeat(y1, nq)) & (rng.random(len(q)) < 0.75)
        a = self.qstart[q] + self.U(0, 25, len(q))
        b = a + self.U(10, 60, len(q))
        on &= b <= E
        purpose = np.where(rng.random(len(q)) < 0.5, P["business"], P["family"])
        self._iv.append((pq[on], a[on], b[on], purpose[on].astype(np.int8),
                         np.zeros(on.sum(), bool)))
        vy_pid = np.repeat(p, y1 - y0 + 1)
        vy = np.repeat(y0, y1 - y0 + 1) + _cumcount(y1 - y0 + 1)
        m = self.needs_visa(vy_pid)
        vf = self.year_start(vy) - self.U(5, 30, len(vy))
        self.visa(vy_pid[m], "visitor", "other", vf[m], vf[m] + 395)

        # health and training visitors: one stay of weeks to months
        for t, cat, purpose, lo, hi in (("health_visitor", "medical", "health", 14, 150),
                                        ("training_visitor", "training", "training", 30, 170)):
            p = ids[t]
            k = len(p)
            a = self.U(S, E - 200, k)
            b = a + self.U(lo, hi, k)
            self.add(p, a, b, P[purpose])
            vf = a - self.U(5, 30, k)
            self.visa(p, cat, purpose, vf, b + self.U(10, 60, k))

        # asylum seekers in transit: same day or a few days
        p = ids["asylum_transit"]
        k = len(p)
        a = self.U(S, E - 30, k)
        b = a + np.where(rng.random(k) < 0.5, 0, self.U(1, 10, k))
        purpose = np.where(rng.random(k) < 0.5, P["asylum"], P["transit"]).astype(np.int8)
        self._iv.append((p, a, b, purpose, np.zeros(k, bool)))
        self.visa(p, "transit", "transit", a - self.U(1, 10, k), a + 14)

        # overstayers: arrive on a visitor visa, stay on when it expires (hidden population)
        p = ids["overstayer"]
        k = len(p)
        arr = self.U(S, E - 400, k)
        dep = arr + self.U(450, 1500, k)
        dep = np.where((rng.random(k) < 0.15) & (dep <= E - 1), dep, POST)
        self.add(p, arr, dep, P["tourism"])
        vf = arr - self.U(5, 60, k)
        self.visa(p, "visitor", "tourism", vf, vf + 90)

        self._finish()

    def _n_quarters(self):
        if not hasattr(self, "qstart"):
            y0 = int(np.datetime64(self.S, "D").astype("datetime64[Y]").astype(int)) + 1970
            y1 = int(np.datetime64(self.E, "D").astype("datetime64[Y]").astype(int)) + 1970
            months = np.arange((y0 - 1970) * 12, (y1 - 1970 + 1) * 12, 3)
            self.qstart = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        return len(self.qstart)

    def _trips_by_year(self, p, ntrip, purpose):
        k = len(p)
        ny = self.NY
        order = np.argsort(self.rng.random((k, ny)), axis=1)
        take = np.arange(ny)[None, :] < ntrip[:, None]
        yr = self.Y0 + order[take]
        pid = np.repeat(p, ntrip)
        a = self.year_start(yr) + self.U(0, 330, len(pid))
        dur = np.clip(np.exp(self.rng.normal(np.log(10), 0.6, len(pid))), 1, 30).astype(np.int64)
        b = a + dur
        ok = (a >= self.S) & (b <= self.E)
        self.add(pid[ok], a[ok], b[ok], P[purpose])
        m = ok & self.needs_visa(pid)
        vf = a - self.U(5, 60, len(pid))
        self.visa(pid[m], "visitor", purpose, vf[m], vf[m] + 90)

    def _emigrate(self, p):
        """Residents at the start who leave for good (some come back years later)."""
        rng, S, E, PRE, POST = self.rng, self.S, self.E, self.PRE, self.POST
        k = len(p)
        dep = self.U(S + 60, E - 520, k)
        self.add(p, PRE, dep, 0, True)
        ret = dep + self.U(600, 1400, k)
        back = (rng.random(k) < 0.2) & (ret <= E - 30)
        self.add(p[back], ret[back], POST, 0, True)
        # visits to family after leaving (short, a year apart)
        nv = rng.choice([0, 1, 2], k, p=[0.5, 0.35, 0.15])
        pid = np.repeat(p, nv)
        i = _cumcount(nv)
        a = np.repeat(dep, nv) + 150 + 250 * i + self.U(0, 80, len(pid))
        b = a + self.U(5, 25, len(pid))
        limit = np.repeat(np.where(back, ret - 30, E), nv)
        ok = b < limit
        self.add(pid[ok], a[ok], b[ok], P["family"])

    # -- absences, splitting, crossings ------------------------------------------------------
    def _finish(self):
        rng, S, E = self.rng, self.S, self.E
        pid, a, b, purpose, res = (np.concatenate(x) for x in zip(*self._iv))
        # keep to the period: a trip drawn from a calendar slot before a mid-year start, or
        # running past the end, is dropped or left open
        inside = ((a >= S) | (a == self.PRE)) & (a <= E)
        pid, a, b, purpose, res = pid[inside], a[inside], b[inside], purpose[inside], res[inside]
        b = np.where(b > E, self.POST, b)
        death = self.death[pid]
        dead = death >= 0
        keep = ~(dead & (a >= death))
        pid, a, b, purpose, res = pid[keep], a[keep], b[keep], purpose[keep], res[keep]
        death = death[keep]
        b = np.where((death >= 0) & (b >= death), self.POST, b)
        iv = pd.DataFrame({"pid": pid, "a": a, "b": b, "purpose": purpose, "res": res})
        iv = iv.sort_values(["pid", "a", "b"], kind="stable").reset_index(drop=True)
        # safety net: drop an interval that would overlap the one before it
        prev_b = iv.groupby("pid")["b"].shift()
        overlap = (prev_b > iv["a"]).to_numpy()
        self.dropped_overlaps = int(overlap.sum())
        iv = iv[~overlap].reset_index(drop=True)
        iv["iid"] = np.arange(len(iv))
        # holidays abroad of residents: at most one per calendar quarter
        nq = self._n_quarters()
        r = iv[iv["res"]]
        travel = rng.choice([0.0, 1.0, 3.0], self.n, p=[0.35, 0.45, 0.2])
        rid = np.repeat(r["iid"].to_numpy(), nq)
        rp = np.repeat(r["pid"].to_numpy(), nq)
        q = np.tile(np.arange(nq), len(r))
        go = rng.random(len(q)) < travel[rp] / 4
        rid, rp, q = rid[go], rp[go], q[go]
        l = self.qstart[q] + self.U(0, 55, len(q))
        dur = np.clip(np.exp(rng.normal(np.log(12), 0.7, len(q))), 1, 33).astype(np.int64)
        dur[rng.random(len(q)) < 0.04] = 0                 # day trips abroad
        rr = l + dur
        ia, ib = iv["a"].to_numpy()[rid], iv["b"].to_numpy()[rid]
        ok = (l > ia) & (rr < ib) & (rr <= E - 1) & (l >= S) & (l > self.birth[rp] + 180)
        d = self.death[rp]
        ok &= (d < 0) | (rr < d - 1)
        ab = [pd.DataFrame({"iid": rid[ok], "l": l[ok], "r": rr[ok]})]
        # explicit absences (students' breaks) of non-holiday intervals
        for spid, sl, sr in self._abs:
            if len(spid) == 0:
                continue
            # the interval holding each break: the student's only stay
            first = iv.drop_duplicates("pid").set_index("pid")["iid"]
            sid = first.reindex(spid).to_numpy()
            okb = ~np.isnan(sid)
            sid = sid[okb].astype(np.int64)
            inside = (sl[okb] > iv["a"].to_numpy()[sid]) & (sr[okb] < iv["b"].to_numpy()[sid])
            ab.append(pd.DataFrame({"iid": sid[inside], "l": sl[okb][inside],
                                    "r": sr[okb][inside]}))
        ab = pd.concat(ab, ignore_index=True).sort_values(["iid", "l"], kind="stable")
        self.stays = _split(iv, ab)
        self.visas = pd.DataFrame({k: np.concatenate(v) for k, v in zip(
            ("pid", "category", "purpose", "valid_from", "valid_to"), zip(*self._visas))})
        self.visas = self.visas.sort_values(["pid", "valid_from"], kind="stable") \
            .reset_index(drop=True)

    def crossings(self) -> pd.DataFrame:
        """The true crossings: pid, date, direction ('in'/'out'), purpose, seq (order within
        a person and day), from the presence intervals."""
        if getattr(self, "_crossings", None) is not None:
            return self._crossings
        st = self.stays
        S, E = self.S, self.E
        k = len(st)
        order = np.arange(k)
        ins = st["a"].to_numpy()
        outs = st["b"].to_numpy()
        mi = (ins >= S) & (ins <= E)
        mo = (outs >= S) & (outs <= E)
        c = pd.DataFrame({
            "pid": np.concatenate([st["pid"].to_numpy()[mi], st["pid"].to_numpy()[mo]]),
            "date": np.concatenate([ins[mi], outs[mo]]),
            "direction": np.concatenate([np.full(mi.sum(), "in"), np.full(mo.sum(), "out")]),
            "purpose": np.concatenate([st["purpose"].to_numpy()[mi],
                                       np.zeros(mo.sum(), np.int8)]),
            "_o": np.concatenate([order[mi] * 2, order[mo] * 2 + 1]),
        })
        c = c.sort_values("_o", kind="stable").reset_index(drop=True)
        c["seq"] = c.groupby(["pid", "date"]).cumcount() + 1
        self._crossings = c.drop(columns="_o")
        return self._crossings


def _cumcount(counts: np.ndarray) -> np.ndarray:
    """0..k-1 for each k in counts, concatenated."""
    counts = np.asarray(counts, dtype=np.int64)
    total = counts.sum()
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _split(iv: pd.DataFrame, ab: pd.DataFrame) -> pd.DataFrame:
    """Cut presence intervals by absences (l, r) strictly inside them, sorted by (iid, l):
    [a, b] with absences (l1, r1) .. (lk, rk) becomes [a, l1], [r1, l2], ..., [rk, b]."""
    ab = ab.copy()
    ab["i"] = ab.groupby("iid").cumcount()
    starts = pd.concat([pd.DataFrame({"iid": iv["iid"], "i": -1, "v": iv["a"]}),
                        pd.DataFrame({"iid": ab["iid"], "i": ab["i"], "v": ab["r"]})])
    ends = pd.concat([pd.DataFrame({"iid": ab["iid"], "i": ab["i"] - 1, "v": ab["l"]}),
                      pd.DataFrame({"iid": iv["iid"], "i": 1 << 40, "v": iv["b"]})])
    starts = starts.sort_values(["iid", "i"], kind="stable")
    ends = ends.sort_values(["iid", "i"], kind="stable")
    iid = starts["iid"].to_numpy()
    base = iv.set_index("iid").loc[iid]
    out = pd.DataFrame({"pid": base["pid"].to_numpy(), "a": starts["v"].to_numpy(),
                        "b": ends["v"].to_numpy(),
                        # a return from a holiday has no stated purpose
                        "purpose": np.where(starts["i"].to_numpy() >= 0, 0,
                                            base["purpose"].to_numpy()).astype(np.int8),
                        "res": base["res"].to_numpy()})
    return out.sort_values(["pid", "a", "b"], kind="stable").reset_index(drop=True)
