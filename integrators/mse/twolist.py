"""Two-list (dual-system) estimators.

With n1 on list 1, n2 on list 2 and m on both:
- Lincoln–Petersen: N̂ = n1·n2/m, Var = n1·n2·(n1−m)(n2−m)/m³ (Seber 1982, 3.1).
- Chapman (1951): N̂ = (n1+1)(n2+1)/(m+1) − 1,
  Var = (n1+1)(n2+1)(n1−m)(n2−m) / ((m+1)²(m+2)) (Seber 1970; Wittes 1972).
The log-linear independence model on two lists gives the Lincoln–Petersen estimate.
"""

from __future__ import annotations

import math

from scipy import stats


class TwoListEstimate:
    """Lincoln–Petersen and Chapman estimates from the three observable counts.

    ``n10`` only on list 1, ``n01`` only on list 2, ``n11`` on both."""

    def __init__(self, n10: float, n01: float, n11: float, level: float = 0.95):
        self.n10, self.n01, self.n11, self.level = float(n10), float(n01), float(n11), level
        n1, n2, m = self.n10 + self.n11, self.n01 + self.n11, self.n11
        self.n1, self.n2, self.m = n1, n2, m
        z = stats.norm.ppf(0.5 + level / 2)
        if m > 0:
            self.lincoln_petersen = n1 * n2 / m
            self.lincoln_petersen_var = n1 * n2 * (n1 - m) * (n2 - m) / m ** 3
        else:
            self.lincoln_petersen = self.lincoln_petersen_var = float("nan")
        self.chapman = (n1 + 1) * (n2 + 1) / (m + 1) - 1
        self.chapman_var = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
        se = math.sqrt(self.chapman_var)
        n = n1 + n2 - m
        self.chapman_ci = (max(n, self.chapman - z * se), self.chapman + z * se)

    def as_dict(self) -> dict:
        def num(x):
            return None if x != x else float(x)
        return {
            "n1": self.n1, "n2": self.n2, "m": self.m,
            "lincoln_petersen": num(self.lincoln_petersen),
            "lincoln_petersen_se": num(math.sqrt(self.lincoln_petersen_var)
                                       if self.lincoln_petersen_var == self.lincoln_petersen_var
                                       else float("nan")),
            "chapman": self.chapman,
            "chapman_se": math.sqrt(self.chapman_var),
            "chapman_ci_low": self.chapman_ci[0], "chapman_ci_high": self.chapman_ci[1],
            "ci_level": self.level,
        }
