"""Name pools per nationality and their renderings in different sources.

Pools are drawn ONCE from Faker's locale name lists (static data, no randomness) or from compact
hand lists where Faker has no romanised list (Chinese given names, Korean, Arabic, Pacific
names), and persons carry integer indices into them. Everything that varies between sources
is precomputed per pool entry (a few thousand strings), so that rendering millions of records
is a vectorised ``np.take``:

- transliteration scheme of Cyrillic names: ``icao`` (ICAO Doc 9303, machine-readable
  passports), ``bgn`` (BGN/PCGN for Russian, the 2010 national system for Ukrainian),
  ``any`` (anyascii, a generic romaniser) — so "Дмитрий" is DMITRII at the border, Dmitriy
  in a visa file;
- an alternative spelling (``alt``): Mohammed/Muhammad, Zhang/Chang (Wade-Giles/Cantonese),
  Aleksandr/Alexander, Lee/Yi, hyphen dropped, Spanish second surname dropped;
- diacritics folded (Nguyễn -> Nguyen) and upper case.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pycountry
from anyascii import anyascii

#: Nationalities of the world: alpha-3 -> (given-name spec, family-name spec).
NATIONALITIES: tuple[str, ...] = (
    "NZL", "CHN", "IND", "PHL", "GBR", "AUS", "USA", "RUS", "UKR", "EGY", "SYR", "PAK", "VNM",
    "FJI", "WSM", "TON", "DEU", "BRA", "MEX", "KOR", "JPN", "FRA", "ESP",
)
#: Nationals who need no visa for a visit (tourism, business).
VISA_WAIVER: frozenset[str] = frozenset({"NZL", "AUS", "GBR", "USA", "DEU", "FRA", "ESP", "JPN",
                                         "KOR"})
#: Country names as clerks write them (visa file rows that hold a name, not a code).
COMMON_NAMES: dict[str, str] = {"RUS": "Russia", "KOR": "South Korea", "VNM": "Vietnam",
                                "SYR": "Syria", "GBR": "United Kingdom", "USA": "United States"}

_CN_SYL = ("Wei", "Jing", "Xiao", "Ming", "Hui", "Li", "Yan", "Hong", "Jun", "Lei", "Fang",
           "Ling", "Yu", "Hao", "Jie", "Ting", "Qiang", "Mei", "Xin", "Yi", "Chen", "Bo", "Lan",
           "Tao", "Ying", "Zhi", "Kai", "Rui", "Hua", "Jian", "Na", "Qing", "Dong", "Xue",
           "Feng", "Yun", "Peng", "Shu", "Wen", "Lin")
_KR_SYL_M = ("Min", "Jun", "Seo", "Ji", "Hyun", "Woo", "Sung", "Jae", "Dong", "Young", "Ho",
             "Tae", "Sang", "Joon", "Hoon", "Chul")
_KR_SYL_F = ("Seo", "Yeon", "Ji", "Min", "Soo", "Eun", "Hye", "Ha", "Yoon", "Jin", "Na", "Young",
             "Mi", "Kyung", "Hee", "Ah")
_KR_FAMILY = ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han",
              "Oh", "Seo", "Shin", "Kwon", "Hwang", "Ahn", "Song", "Jeon", "Hong", "Yoo", "Ko",
              "Moon", "Yang", "Son", "Bae", "Baek", "Heo", "Nam", "Noh")
_AR_M = ("Mohammed", "Ahmed", "Mahmoud", "Mustafa", "Omar", "Khaled", "Hassan", "Hussein", "Ali",
         "Ibrahim", "Youssef", "Abdullah", "Tariq", "Karim", "Sami", "Walid", "Osama", "Amr",
         "Hamza", "Rami", "Bilal", "Samir", "Nabil", "Fadi", "Bassam", "Ziad", "Majid",
         "Faisal", "Adel", "Hisham", "Yasser", "Anas", "Mazen", "Jamal", "Nizar")
_AR_F = ("Fatima", "Aisha", "Mariam", "Noor", "Layla", "Zainab", "Huda", "Amira", "Rana", "Hala",
         "Salma", "Yasmin", "Reem", "Dina", "Nadia", "Samira", "Lina", "Rasha", "Hiba", "Mona",
         "Heba", "Sara", "Ghada", "Dalia", "Rania", "Nisreen", "Suha", "Manal", "Abeer")
_EG_FAMILY = ("El-Sayed", "Abdel-Rahman", "Mahmoud", "Hassan", "Ibrahim", "Mostafa", "Fahmy",
              "Ghali", "Soliman", "Mansour", "Shawky", "Farouk", "Naguib", "Hegazy", "Zaki",
              "Badawi", "Fawzy", "Gaber", "Ashour", "Radwan", "Abdel-Aziz", "El-Shazly",
              "Morsy", "Tawfik", "Sabry", "Hamdy", "Salem", "Amer", "Kamel", "Lotfy")
_SY_FAMILY = ("Al-Masri", "Haddad", "Khalil", "Nasser", "Saleh", "Hamdan", "Darwish",
              "Al-Hussein", "Kassab", "Othman", "Sabbagh", "Attar", "Halabi", "Jabbour", "Khoury",
              "Shami", "Najjar", "Qassem", "Hariri", "Zein", "Al-Ahmad", "Sulaiman", "Mousa",
              "Hamoud", "Issa", "Aziz", "Bakri", "Dabbagh", "Hallak", "Kurdi")
_PH_FAMILY = ("Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres",
              "Tomas", "Andrada", "Castillo", "Flores", "Villanueva", "Ramos", "Castro",
              "Rivera", "Aquino", "Navarro", "Salazar", "Mercado", "Dela Cruz", "De Leon",
              "Santiago", "Soriano", "Manalo", "Pascual", "Dizon", "Gonzales", "Lopez",
              "Macaraeg", "Panganiban", "Dimaculangan", "Magbanua", "Evangelista", "Tolentino")
_FJ_M = ("Josefa", "Sitiveni", "Jone", "Epeli", "Viliame", "Semi", "Tevita", "Apisai", "Isikeli",
         "Mosese", "Peni", "Samuela", "Waisale", "Inoke", "Eroni", "Ratu", "Aminiasi", "Osea")
_FJ_F = ("Litia", "Mere", "Salote", "Ana", "Losana", "Vasiti", "Akanisi", "Unaisi", "Miliakere",
         "Sereana", "Asenaca", "Titilia", "Makereta", "Kelera", "Adi", "Luisa", "Torika")
_FJ_FAMILY = ("Naivalu", "Ravulo", "Koroi", "Vunibaka", "Nadolo", "Tabua", "Baleivanualala",
              "Naqelevuki", "Rokodi", "Waqa", "Qalo", "Delana", "Tikoduadua", "Vakaloloma",
              "Senikau", "Matanitobua", "Radrodro", "Veikune", "Nawaikula", "Naidu", "Prasad",
              "Kumar", "Lal", "Chand", "Singh")
_WS_M = ("Tavita", "Sione", "Ioane", "Falaniko", "Lafaele", "Sefo", "Tui", "Paulo", "Iosefa",
         "Malo", "Fetu", "Aukuso", "Pele", "Toa", "Fiti", "Vaa")
_WS_F = ("Mele", "Losa", "Silia", "Malia", "Lagi", "Sina", "Teuila", "Ana", "Talia", "Lupe",
         "Faafetai", "Masina", "Seini", "Alofa", "Pua")
_WS_FAMILY = ("Tuilagi", "Leota", "Faleolo", "Tuimavave", "Alofaituli", "Sapolu", "Fa'amausili",
              "Schwenke", "Leiataua", "Aiono", "Toleafoa", "Masoe", "Tanuvasa", "Seiuli",
              "Fruean", "Afamasaga", "Lemalu", "Su'a", "Pouono", "Lauina", "Faumuina", "Tauiliili")
_TO_M = ("Sione", "Tevita", "Viliami", "Siaosi", "Semisi", "Sitani", "Pita", "Taniela", "Manu",
         "Lopeti", "Sifa", "Alipate", "Feleti", "Samiuela", "Kaveinga")
_TO_F = ("Mele", "Salote", "Losaline", "'Ana", "Lesieli", "Vika", "Seini", "'Ofa", "Kalolaine",
         "Meleane", "Luseane", "Sela", "Mosese", "Talia", "Fifita")
_TO_FAMILY = ("Taufa", "Fifita", "Tonga", "Havili", "Vake", "Latu", "Mahe", "Kaufusi", "Moala",
              "Lolohea", "Fonua", "Vaipulu", "Tupou", "Maka", "Folau", "Palelei", "Funaki",
              "Hufanga", "Fakatava", "Vaka", "Pulu", "Tu'ipulotu", "Kata", "Manu")

#: Alternative spellings seen across real sources (transliteration and anglicisation).
ALT: dict[str, str] = {
    "Mohammed": "Muhammad", "Muhammad": "Mohammed", "Mohamed": "Mohammed",
    "Mohammad": "Mohamad", "Ahmed": "Ahmad", "Ahmad": "Ahmed", "Mahmoud": "Mahmud",
    "Hussein": "Husain", "Hussain": "Husain", "Youssef": "Yusuf", "Yusuf": "Yousef",
    "Omar": "Umar", "Khaled": "Khalid", "Khalid": "Khaled", "Abdullah": "Abdallah",
    "Mustafa": "Mostafa", "Mostafa": "Mustafa", "Ibrahim": "Ebrahim", "Hassan": "Hasan",
    "Fatima": "Fatma", "Aisha": "Aysha", "Mariam": "Maryam", "Noor": "Nour", "Layla": "Leila",
    "Zainab": "Zeinab", "Huda": "Hoda", "Osama": "Usama", "Tariq": "Tarek", "Yasmin": "Yasmine",
    "Yasser": "Yasir", "Majid": "Majed", "Sulaiman": "Suleiman", "Mousa": "Musa", "Issa": "Eissa",
    # pinyin -> Wade-Giles / Cantonese
    "Zhang": "Chang", "Zhou": "Chou", "Xu": "Hsu", "Li": "Lee", "Wang": "Wong", "Chen": "Chan",
    "Huang": "Hwang", "Zhao": "Chao", "Liu": "Lau", "Wu": "Woo", "Yang": "Yeung",
    "Zheng": "Cheng", "Lin": "Lam", "Guo": "Kuo", "Xie": "Hsieh", "Cai": "Tsai", "Zhu": "Chu",
    "Qian": "Chien", "Xiao": "Hsiao", "Jiang": "Chiang", "Song": "Sung", "Deng": "Teng",
    "Ye": "Yip", "He": "Ho", "Lu": "Lo", "Gao": "Kao", "Ma": "Mah", "Sun": "Suen",
    # Russian/Ukrainian anglicisations of the ICAO forms
    "Aleksandr": "Alexander", "Aleksandra": "Alexandra", "Aleksei": "Alexei", "Sergei": "Sergey",
    "Dmitrii": "Dmitry", "Iurii": "Yuri", "Nataliia": "Natalia", "Evgenii": "Yevgeny",
    "Andrei": "Andrey", "Nikolai": "Nikolay", "Ekaterina": "Yekaterina", "Iuliia": "Julia",
    "Tatiana": "Tatyana", "Anastasiia": "Anastasia", "Maksim": "Maxim", "Mariia": "Maria",
    "Oleksandr": "Alexander", "Olga": "Olha", "Iryna": "Irina", "Viktoriia": "Victoria",
    "Mikhail": "Michael", "Elena": "Yelena", "Ivan": "Iwan",
    # Korean romanisations
    "Lee": "Yi", "Park": "Pak", "Choi": "Choe", "Jung": "Jeong", "Kang": "Gang", "Cho": "Jo",
    "Yoon": "Yun", "Shin": "Sin", "Lim": "Im", "Kwon": "Gwon", "Ahn": "An", "Jeon": "Chun",
    "Yoo": "Yu", "Moon": "Mun", "Baek": "Paik", "Noh": "Roh", "Kim": "Gim",
    # others
    "Nguyen": "Ngyuen", "Mohammad Ali": "Muhammad Ali", "Singh": "Sing", "Kumar": "Kumaar",
}


def _faker(locale: str, attr: str) -> list[str]:
    mod = importlib.import_module(f"faker.providers.person.{locale}")
    val = getattr(mod.Provider, attr)
    return [str(x) for x in (val.keys() if hasattr(val, "keys") else val)]


def _dedupe(seq) -> list[str]:
    out, seen = [], set()
    for s in seq:
        s = " ".join(str(s).split())
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _pairs(a: list[str], b: list[str], sep: str, k: int) -> list[str]:
    """The first ``k`` combinations of a deterministic interleaving of two lists."""
    out = []
    for i in range(len(a)):
        for j in range(len(b)):
            x, y = a[(i + j) % len(a)], b[(i * 7 + j * 3) % len(b)]
            if x != y:
                out.append(f"{x}{sep}{y}")
    return _dedupe(out)[:k]


def _spec() -> dict[str, dict[str, list[str]]]:
    """nationality -> {'M': given names, 'F': given names, 'FM': family (male),
    'FF': family (female)}; static, no randomness."""
    f = _faker
    cn_given = _pairs(list(_CN_SYL), [s.lower() for s in _CN_SYL], "", 600) + list(_CN_SYL)
    kr_m = _pairs(list(_KR_SYL_M), [s.lower() for s in _KR_SYL_M], "-", 200)
    kr_f = _pairs(list(_KR_SYL_F), [s.lower() for s in _KR_SYL_F], "-", 200)
    es_fam = _pairs(f("es_ES", "last_names")[:120], f("es_ES", "last_names")[120:240], " ", 600)
    mx_fam = _pairs(f("es_MX", "last_names")[:100], f("es_MX", "last_names")[100:200], " ", 500)
    vn_given = _pairs(f("vi_VN", "middle_names"),
                      f("vi_VN", "first_names_male") + f("vi_VN", "first_names_female")
                      + f("vi_VN", "first_names_unisex"), " ", 400)
    en = {"M": f("en_US", "first_names_male"), "F": f("en_US", "first_names_female")}
    s = {
        "NZL": dict(M=f("en_NZ", "first_names_male"), F=f("en_NZ", "first_names_female"),
                    FM=f("en_NZ", "last_names")),
        "GBR": dict(M=f("en_GB", "first_names_male"), F=f("en_GB", "first_names_female"),
                    FM=f("en_GB", "last_names")),
        "AUS": dict(M=f("en_GB", "first_names_male"), F=f("en_GB", "first_names_female"),
                    FM=f("en_NZ", "last_names")),
        "USA": dict(M=en["M"], F=en["F"], FM=f("en_US", "last_names")),
        "CHN": dict(M=cn_given, F=cn_given, FM=f("zh_CN", "last_romanized_names")),
        "IND": dict(M=f("en_IN", "first_names_male"), F=f("en_IN", "first_names_female"),
                    FM=f("en_IN", "last_names")),
        "PAK": dict(M=f("en_PK", "first_names"), F=f("en_PK", "first_names"),
                    FM=f("en_PK", "last_names")),
        "PHL": dict(M=en["M"][:200] + f("es_ES", "first_names_male")[:100],
                    F=en["F"][:200] + f("es_ES", "first_names_female")[:100], FM=list(_PH_FAMILY)),
        "RUS": dict(M=f("ru_RU", "first_names_male"), F=f("ru_RU", "first_names_female"),
                    FM=f("ru_RU", "last_names_male"), FF=f("ru_RU", "last_names_female")),
        "UKR": dict(M=f("uk_UA", "first_names_male"), F=f("uk_UA", "first_names_female"),
                    FM=f("uk_UA", "last_names_male"), FF=f("uk_UA", "last_names_female")),
        "EGY": dict(M=list(_AR_M), F=list(_AR_F), FM=list(_EG_FAMILY)),
        "SYR": dict(M=list(_AR_M), F=list(_AR_F), FM=list(_SY_FAMILY)),
        "VNM": dict(M=vn_given, F=vn_given, FM=f("vi_VN", "last_names")),
        "FJI": dict(M=list(_FJ_M), F=list(_FJ_F), FM=list(_FJ_FAMILY)),
        "WSM": dict(M=list(_WS_M), F=list(_WS_F), FM=list(_WS_FAMILY)),
        "TON": dict(M=list(_TO_M), F=list(_TO_F), FM=list(_TO_FAMILY)),
        "DEU": dict(M=f("de_DE", "first_names_male"), F=f("de_DE", "first_names_female"),
                    FM=f("de_DE", "last_names")),
        "BRA": dict(M=f("pt_BR", "first_names_male"), F=f("pt_BR", "first_names_female"),
                    FM=f("pt_BR", "last_names")),
        "MEX": dict(M=f("es_MX", "first_names_male"), F=f("es_MX", "first_names_female"),
                    FM=mx_fam),
        "KOR": dict(M=kr_m, F=kr_f, FM=list(_KR_FAMILY)),
        "JPN": dict(M=f("ja_JP", "first_romanized_names_male"),
                    F=f("ja_JP", "first_romanized_names_female"),
                    FM=f("ja_JP", "last_romanized_names")),
        "FRA": dict(M=f("fr_FR", "first_names_male"), F=f("fr_FR", "first_names_female"),
                    FM=f("fr_FR", "last_names")),
        "ESP": dict(M=f("es_ES", "first_names_male"), F=f("es_ES", "first_names_female"),
                    FM=es_fam),
    }
    for v in s.values():
        for k in list(v):
            v[k] = _dedupe(v[k])
        v.setdefault("FF", v["FM"])
    return s


# --- transliteration of Cyrillic (pool level only) ------------------------------------------
_ICAO = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
                 ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n",
                  "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y",
                  "", "e", "iu", "ia", "i", "i", "ie", "g"]))
_BGN_RU = dict(_ICAO, **{"ё": "yo", "й": "y", "ъ": "", "ю": "yu", "я": "ya", "е": "e"})
_UA_2010 = dict(_ICAO, **{"г": "h", "и": "y", "й": "i", "ю": "iu", "я": "ia", "є": "ie",
                          "ї": "i", "ь": "", "ґ": "g", "х": "kh", "щ": "shch"})
_UA_2010_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}


def _translit(word: str, table: dict[str, str], initial: dict[str, str] | None = None,
              ye: bool = False) -> str:
    out = []
    prev = " "
    for ch in word:
        low = ch.lower()
        if low in table:
            rep = table[low]
            if initial and prev in " -'" and low in initial:
                rep = initial[low]
            elif ye and low == "е" and (prev in " -'" or prev in "аеёиоуыэюяъь"):
                rep = "ye"
            out.append(rep.capitalize() if ch.isupper() else rep)
        else:
            out.append(ch)
        prev = low
    return "".join(out)


def _is_cyrillic(s: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in s)


def _renderings(name: str, nat: str) -> dict[str, str]:
    """Every spelling of one pool entry: per scheme, its alternative, folded/upper forms."""
    if _is_cyrillic(name):
        icao = _translit(name, _ICAO)
        if nat == "UKR":
            bgn = _translit(name, _UA_2010, _UA_2010_INITIAL)
        else:
            bgn = _translit(name, _BGN_RU, ye=True)
        anyf = anyascii(name).replace("'", "")
        alt = ALT.get(icao, bgn if bgn != icao else anyf)
        return {"icao": icao, "bgn": bgn, "any": anyf, "alt": alt}
    alt = ALT.get(name)
    if alt is None:
        if "-" in name:
            alt = name.replace("-", "")
        elif nat in ("ESP", "MEX") and " " in name:
            alt = name.split(" ")[0]
        elif "'" in name:
            alt = name.replace("'", "")
        else:
            alt = name
    return {"icao": name, "bgn": name, "any": name, "alt": alt}


SCHEMES: tuple[str, ...] = ("icao", "bgn", "any")


class NamePools:
    """The global given-name and family-name pools and their renderings.

    ``given_ranges[(nat, sex)]`` / ``family_ranges[(nat, sex)]`` give the (start, stop) of that
    group's entries in the pool. ``table(kind, scheme)`` is an object array of length
    ``8 * len(pool)`` indexed by ``idx * 8 + alt * 4 + fold * 2 + upper``.
    """

    def __init__(self):
        spec = _spec()
        self.given: list[tuple[str, str]] = []     # (name, nat)
        self.family: list[tuple[str, str]] = []
        self.given_ranges: dict[tuple[str, str], tuple[int, int]] = {}
        self.family_ranges: dict[tuple[str, str], tuple[int, int]] = {}
        for nat in NATIONALITIES:
            s = spec[nat]
            for sex, gk, fk in (("M", "M", "FM"), ("F", "F", "FF")):
                g0 = len(self.given)
                self.given += [(x, nat) for x in s[gk]]
                self.given_ranges[(nat, sex)] = (g0, len(self.given))
                if sex == "F" and s["FF"] is s["FM"]:
                    self.family_ranges[(nat, "F")] = self.family_ranges[(nat, "M")]
                    continue
                f0 = len(self.family)
                self.family += [(x, nat) for x in s[fk]]
                self.family_ranges[(nat, sex)] = (f0, len(self.family))
        self._tables: dict[tuple[str, str], np.ndarray] = {}
        self._arrow: dict[tuple[str, str], pa.Array] = {}

    def arrow_table(self, kind: str, scheme: str) -> pa.Array:
        key = (kind, scheme)
        if key not in self._arrow:
            self._arrow[key] = pa.array(self.table(kind, scheme), type=pa.string())
        return self._arrow[key]

    def table(self, kind: str, scheme: str) -> np.ndarray:
        key = (kind, scheme)
        if key not in self._tables:
            pool = self.given if kind == "given" else self.family
            out = np.empty(len(pool) * 8, dtype=object)
            for i, (name, nat) in enumerate(pool):
                r = _renderings(name, nat)
                for alt in (0, 1):
                    base = r["alt"] if alt else r[scheme]
                    folded = anyascii(base)
                    out[i * 8 + alt * 4 + 0] = base
                    out[i * 8 + alt * 4 + 1] = base.upper()
                    out[i * 8 + alt * 4 + 2] = folded
                    out[i * 8 + alt * 4 + 3] = folded.upper()
            self._tables[key] = out
        return self._tables[key]


@functools.lru_cache(maxsize=1)
def pools() -> NamePools:
    return NamePools()


def sample_names(nat: np.ndarray, sex: np.ndarray, rng: np.random.Generator,
                 kind: str, zipf: float = 0.5) -> np.ndarray:
    """Pool indices for persons of nationality codes ``nat`` (indices into NATIONALITIES) and
    sex ``sex`` ('F'/'M'): one draw per person, mildly Zipf-weighted (common names commoner)."""
    p = pools()
    ranges = p.given_ranges if kind == "given" else p.family_ranges
    out = np.empty(len(nat), dtype=np.int32)
    u = rng.random(len(nat))
    for k, code in enumerate(NATIONALITIES):
        for sx in ("F", "M"):
            m = (nat == k) & (sex == sx)
            if not m.any():
                continue
            a, b = ranges[(code, sx)]
            w = 1.0 / np.arange(1, b - a + 1) ** zipf
            cdf = np.cumsum(w) / w.sum()
            out[m] = a + np.minimum(np.searchsorted(cdf, u[m]), b - a - 1)
    return out


def render(idx: np.ndarray, kind: str, scheme: str, alt: np.ndarray, fold: np.ndarray,
           upper: np.ndarray) -> pa.Array:
    """Strings of pool entries ``idx`` (−1 = none -> null) in one source's spelling, as an
    Arrow string array (a C-level take from the pool; no Python string per record)."""
    tab = pools().arrow_table(kind, scheme)
    code = (np.maximum(idx, 0).astype(np.int64) * 8 + alt.astype(np.int64) * 4
            + fold.astype(np.int64) * 2 + upper.astype(np.int64))
    return pc.take(tab, pa.array(code, mask=np.asarray(idx) < 0))


def country_alpha2(code: str) -> str:
    return pycountry.countries.get(alpha_3=code).alpha_2


def country_name(code: str) -> str:
    return COMMON_NAMES.get(code) or pycountry.countries.get(alpha_3=code).name
