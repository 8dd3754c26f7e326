"""A deliberately small library so the demo build is about Bosun, not the code."""


def add(a, b):
    return a + b


def mean(values):
    values = list(values)
    if not values:
        raise ValueError("mean of nothing")
    return sum(values) / len(values)
