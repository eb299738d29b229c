"""What the differential tests (text and binary) share: known differences by
case-name prefix, which must each still be sent and still differ."""


def known_difference(name, known):
    """The reason `name` is expected to differ, if it is."""
    return next((reason for prefix, reason in known.items() if name.startswith(prefix)), None)


def check_case_names(cases, known):
    """Case names are unique, there are enough cases, and every known
    difference has a case that shows it."""
    names = [name for name, _ in cases]
    assert len(names) == len(set(names)), "case names are unique"
    assert len(cases) > 1000, len(cases)
    for prefix in known:
        assert any(name.startswith(prefix) for name in names), f"no case for known difference {prefix!r}"
