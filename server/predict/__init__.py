"""Predictive maintenance: daily rollups of numeric checks → robust models → preventive tickets.

Everything here is pure (no I/O): `rollup` folds samples into days, `models` judge a day series,
`decision` says what a ticket should do about a prediction, `backtest` replays a fleet offline.
"""
