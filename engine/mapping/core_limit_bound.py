"""A lower bound on the cores random_recurrent's graph needs that holds every core to its
own input-axon limit at once, where synthetic.log_feasible_partitions only holds their sum.

Fix a partition into C parts of s_1..s_C neurons (each at most `largest`). A source
(every neuron draws `fan` targets uniformly) hits part c, adding one input axon to it,
when one of its draws lands there. If every part is within A input axons, then for any
multipliers l_c >= 0, sum_c l_c (A - in_c) >= 0, so (Markov)

    P(fit) <= exp(A sum_c l_c) M^N,  M = E exp(-sum_c l_c [the source hits c]),

the sources being independent. One source's draws are multinomial, so
M = d!/N^d [x^d] prod_c g_c(x) with g_c(x) = 1 + e^-l_c (e^(s_c x) - 1). Cauchy's
formula on the circle of radius r, with |g_c(r e^it)| <= g_c(r) h_c(t) and
h_c(t) <= exp(-k_c psi(t)), psi(t) = 1 - exp(-sigma (1 - cos t)), sigma = largest r,
k_c = w_c s_c r / sigma, w_c = e^-l_c e^(s_c r) / g_c(r), gives

    M^N <= (d!/(N r)^d)^N prod_c g_c(r)^N E exp(-K Phi),  K = sum_c k_c,

where Phi = sum of psi(t_i) over N independent uniform angles. Cutting Phi at levels
phi_0 = 0 < phi_1 < ..., E exp(-K Phi) <= sum_j P(Phi < phi_(j+1)) exp(-K phi_j), and
P(Phi < phi) has Chernoff's bound. At each level every factor is a product over the
parts, so the sum over all partitions is a coefficient of an exponential generating
function, bounded at its saddle point. Every choice of r, multipliers, levels and
saddle points gives a valid bound: a Witness records the choice, find_witness searches
for a good one, and log_fitting_partitions checks any witness it is given.

Where the summed-axon bound holds the part sizes only by their total, this one gives
large parts large multipliers, so a partition cannot trade a few crowded cores for many
near-empty ones; on the benchmark core it rules out 153 parts at N = 10,000 and 2,205
at N = 100,000 (synthetic.RECURRENT_WITNESSES)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Angles for the upper Riemann sums of E exp(-t psi) (psi rises on [0, pi], so the left
# end of each step bounds the step), and the Chernoff exponents tried for P(Phi < phi).
_ANGLES = np.linspace(0.0, math.pi, 4001)[:-1]
_EXPONENTS = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 600)])
# Coarser ones for scoring a search's candidates (still upper bounds, a little looser).
_SEARCH_ANGLES = np.linspace(0.0, math.pi, 1001)[:-1]
_SEARCH_EXPONENTS = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 150)])


def coarse_levels(sources: int) -> np.ndarray:
    """Levels of Phi, whose weight lies near sources / (2 K): even steps of 5e-5 sources
    up to 0.03 sources, then geometric ones up to 100 sources (the last level reaches to
    infinity)."""
    return np.concatenate([np.arange(0.0, 0.03 * sources, 5e-5 * sources),
                           np.geomspace(0.03 * sources, 100.0 * sources, 80)])


def fine_levels(coarse: np.ndarray, centre: int) -> np.ndarray:
    """The coarse levels with 1,000 even steps added across the 8 on each side of
    `centre`, where the terms are largest: a step multiplies a term by up to e^(K step)."""
    low, high = coarse[max(0, centre - 8)], coarse[min(len(coarse) - 1, centre + 8)]
    return np.unique(np.concatenate([coarse, np.linspace(low, high, 1001)]))


@dataclass(frozen=True)
class Witness:
    """One choice of the free parameters, for partitions into exactly `cores` parts."""

    cores: int
    radius: float  # r, the circle of Cauchy's formula
    knots: tuple[int, ...]  # part sizes where the multipliers are given, rising
    multipliers: tuple[float, ...]  # l at the knots: linear between, never below 0

    def at_sizes(self, largest: int) -> np.ndarray:
        sizes = np.arange(1, largest + 1)
        return np.maximum(0.0, np.interp(sizes, self.knots, self.multipliers))


def log_phi_below(levels: np.ndarray, sigma: float, sources: int, search: bool = False) -> np.ndarray:
    """log of Chernoff's bound on P(Phi < level) for each level (0 for an infinite one),
    Phi = sum of psi(t) over `sources` independent uniform angles t."""
    from scipy.special import logsumexp

    angles, exponents = (_SEARCH_ANGLES, _SEARCH_EXPONENTS) if search else (_ANGLES, _EXPONENTS)
    psi = 1.0 - np.exp(-sigma * (1.0 - np.cos(angles)))
    log_mean = logsumexp(-exponents[:, None] * psi[None, :], axis=1) - math.log(len(angles))
    finite = np.where(np.isinf(levels), 0.0, levels)
    chernoff = np.min(exponents[None, :] * finite[:, None] + sources * log_mean[None, :], axis=1)
    return np.minimum(0.0, np.where(np.isinf(levels), 0.0, chernoff))


def log_partition_sums(log_weight: np.ndarray, neurons: int, cores: int) -> np.ndarray:
    """Per row of log_weight (one weight per part size 1..largest): log of an upper bound
    on the sum over partitions of `neurons` into `cores` parts of the product of their
    parts' weights, N!/C! [y^N] (sum_s w_s y^s / s!)^C <= N!/C! F(y)^C / y^N, with y
    at the saddle point (found by bisection: any y is an upper bound)."""
    from scipy.special import gammaln, logsumexp

    sizes = np.arange(1, log_weight.shape[1] + 1)
    terms = log_weight - gammaln(sizes + 1)[None, :]
    low, high = np.full(len(terms), -3000.0), np.full(len(terms), 3000.0)
    for _ in range(100):
        u = (low + high) / 2
        z = terms + u[:, None] * sizes[None, :]
        p = np.exp(z - z.max(axis=1)[:, None])
        over = cores * (p * sizes).sum(axis=1) / p.sum(axis=1) > neurons
        high, low = np.where(over, u, high), np.where(over, low, u)
    u = (low + high) / 2
    saddle: np.ndarray = cores * logsumexp(terms + u[:, None] * sizes[None, :], axis=1) - neurons * u
    return saddle + float(gammaln(neurons + 1) - gammaln(cores + 1))


def source_terms(largest: int, witness: Witness) -> tuple[np.ndarray, np.ndarray, float]:
    """For part sizes 1..largest: log g(r), the part's k, and sigma (one source's factors)."""
    sizes = np.arange(1, largest + 1)
    r = witness.radius
    mult = witness.at_sizes(largest)
    log_g = np.log1p(np.exp(-mult) * np.expm1(sizes * r))
    hit_weight = np.exp(-mult + sizes * r - log_g)
    sigma = largest * r
    return log_g, hit_weight * sizes * r / sigma, sigma


def _level_terms(neurons: int, fan: int, input_axons: int, largest: int, witness: Witness,
                 levels: np.ndarray, search: bool = False) -> np.ndarray:
    from scipy.special import gammaln

    log_g, k, sigma = source_terms(largest, witness)
    per_part = input_axons * witness.at_sizes(largest) + neurons * log_g
    following = np.concatenate([levels[1:], [np.inf]])
    log_below = log_phi_below(following, sigma, neurons, search)
    sums = log_partition_sums(per_part[None, :] - levels[:, None] * k[None, :], neurons, witness.cores)
    per_source = float(gammaln(fan + 1)) - fan * math.log(neurons * witness.radius)
    terms: np.ndarray = log_below + sums + neurons * per_source
    return terms


def log_fitting_partitions(neurons: int, fan: int, input_axons: int, largest: int, witness: Witness) -> float:
    """log of an upper bound on the expected number of partitions of random_recurrent's
    graph into exactly witness.cores parts of at most `largest` neurons, every part within
    `input_axons` distinct sources (the module's argument, with the witness's choices)."""
    from scipy.special import logsumexp

    coarse = coarse_levels(neurons)
    levels = fine_levels(coarse, int(np.argmax(_level_terms(neurons, fan, input_axons, largest, witness, coarse))))
    return float(logsumexp(_level_terms(neurons, fan, input_axons, largest, witness, levels)))


def default_knots(neurons: int, cores: int, largest: int) -> tuple[int, ...]:
    """Knots spread around the mean part size, where the multipliers matter most."""
    mean = neurons / cores
    inner = [round(mean * f) for f in (0.45, 0.75, 0.9, 1.0, 1.1, 1.2)]
    return tuple(sorted({1, *(min(largest - 1, max(2, v)) for v in inner), largest}))


def find_witness(neurons: int, fan: int, input_axons: int, largest: int, cores: int,
                 start: Witness | None = None) -> Witness:
    """A witness for `cores` parts with a small bound: the radius and multipliers that
    minimise it (Powell's method, then Nelder-Mead), scored on the coarse levels,
    starting from `start`'s radius and multipliers where given (one found for a nearby
    part count), else from a flat guess."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    knots = default_knots(neurons, cores, largest) if start is None else start.knots
    levels = coarse_levels(neurons)

    def witness(p: np.ndarray) -> Witness:
        return Witness(cores, math.exp(float(p[0])), knots, tuple(float(v) for v in p[1:]))

    def score(p: np.ndarray) -> float:
        terms = _level_terms(neurons, fan, input_axons, largest, witness(p), levels, search=True)
        return float(logsumexp(terms))

    # with no hit penalty the saddle point is fan / N; the multipliers push it a little above
    first = np.array([math.log(1.5 * fan / neurons)] + [0.8] * len(knots)) if start is None else \
        np.array([math.log(start.radius), *start.multipliers])
    found = minimize(score, first, method="Powell", options={"maxiter": 20000, "xtol": 1e-4, "ftol": 1e-6})
    found = minimize(score, found.x, method="Nelder-Mead",
                     options={"maxiter": 4000, "fatol": 0.5, "xatol": 1e-5, "adaptive": True})
    return witness(found.x)
